"""Build small GGUF files for tests, in llama.cpp's own layout (Q/K rows permuted)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from pensieve_loader import embedded_gguf
from pensieve_loader.gguf_archs import read_field as _field
from pensieve_loader.gguf_convert import unpermute_rows

Q = GGMLQuantizationType

# Byte offsets of each type's float16 scale fields: random bytes there would be inf/NaN or huge.
_F16_FIELDS = {
    Q.Q2_K: (80, 82),
    Q.Q3_K: (108,),
    Q.Q4_K: (0, 2),
    Q.Q5_K: (0, 2),
    Q.Q6_K: (208,),
    Q.TQ1_0: (52,),
    Q.TQ2_0: (64,),
}


def random_blocks(qtype: GGMLQuantizationType, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Random but well-formed raw rows of ``qtype`` (the gguf package cannot quantize K/IQ types).

    Every bit pattern of codes and sub-scales is valid; only the float16 super-scales are set (to
    about 1e-4), so that the weights are finite and below 1.
    """
    rng = np.random.default_rng(seed)
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    n = rows * cols // block_elems
    blocks = rng.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    if qtype == Q.MXFP4:
        blocks[:, 0] = 114  # the E8M0 exponent: 2**-13
    elif qtype == Q.IQ1_M:
        # Its float16 scale is spread over the top nibbles of four uint16: make it 0x0690.
        for byte, nibble in zip((49, 51, 53, 55), (0x0, 0x9, 0x6, 0x0), strict=True):
            blocks[:, byte] = (blocks[:, byte] & 0x0F) | (nibble << 4)
    else:
        for offset in _F16_FIELDS.get(qtype, (0,)):
            d = rng.uniform(1e-4, 2e-4, size=n).astype(np.float16)
            blocks[:, offset : offset + 2] = d.view(np.uint8).reshape(n, 2)
    return blocks.reshape(rows, -1)


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf ``LlamaModel.permute``."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def smollm_vocab() -> dict[str, object]:
    reader = GGUFReader(str(embedded_gguf()))
    keys = ["tokens", "merges", "token_type", "pre", "bos_token_id", "eos_token_id"]
    vocab = {k: _field(reader, f"tokenizer.ggml.{k}") for k in keys}
    vocab["chat_template"] = _field(reader, "tokenizer.chat_template")
    return vocab


ROOT = Path(__file__).resolve().parents[1]
CODER_GGUF = ROOT / "models" / ".downloads" / "qwen2.5-coder-0.5b-instruct.gguf"


def coder_gguf() -> Path:
    """The registry's Qwen2.5-Coder GGUF, fetched once by ``make model-coder``'s script.

    ``make test`` fetches it before the tests run; this only fetches when run another way.
    """
    if not CODER_GGUF.is_file():
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "fetch-model-coder.sh"), "--fetch-only"], check=True
        )
    return CODER_GGUF


def qwen_vocab() -> dict[str, object]:
    """Qwen2.5's real vocabulary (151,936 tokens, special `<tool_call>`) and chat template."""
    reader = GGUFReader(str(coder_gguf()))
    keys = ["tokens", "merges", "token_type", "pre", "bos_token_id", "eos_token_id"]
    vocab = {k: _field(reader, f"tokenizer.ggml.{k}") for k in keys}
    vocab["chat_template"] = _field(reader, "tokenizer.chat_template")
    return vocab


def write_tiny_llama(
    path: Path,
    vocab: dict[str, object],
    *,
    arch: str = "llama",
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    seed: int = 0,
    matrix_type: GGMLQuantizationType = Q.Q4_1,
    types: dict[str, GGMLQuantizationType] | None = None,
    tokenizer_model: str = "gpt2",
    context: int = 256,
) -> dict[str, np.ndarray]:
    """Write a random tiny llama GGUF; returns the HF-layout float weights that went in.

    ``types`` overrides ``matrix_type`` per GGUF tensor name (e.g. a Q4_K_M-style mix). Types the
    gguf package cannot quantize get random blocks, and the returned weights are their values.
    """
    rng = np.random.default_rng(seed)
    tokens = vocab["tokens"]
    assert isinstance(tokens, list)
    n_vocab = len(tokens)
    head_dim = hidden // heads
    writer = GGUFWriter(str(path), arch)
    writer.add_block_count(layers)
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(hidden * 2)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model(tokenizer_model)
    writer.add_tokenizer_pre(str(vocab["pre"]))
    writer.add_token_list(tokens)
    writer.add_token_merges(vocab["merges"])  # type: ignore[arg-type]
    writer.add_token_types(vocab["token_type"])  # type: ignore[arg-type]
    writer.add_bos_token_id(int(vocab["bos_token_id"]))  # type: ignore[call-overload]
    writer.add_eos_token_id(int(vocab["eos_token_id"]))  # type: ignore[call-overload]
    writer.add_chat_template(str(vocab["chat_template"]))

    hf: dict[str, np.ndarray] = {}

    def add(
        name: str, hf_name: str, w: np.ndarray, qtype: GGMLQuantizationType, n_head: int = 0
    ) -> None:
        qtype = (types or {}).get(name, qtype)
        permuted = bool(n_head and arch == "llama")
        if qtype == Q.F32:
            hf[hf_name] = w
            writer.add_tensor(
                name, (llama_permute(w, n_head) if permuted else w).astype(np.float32)
            )
            return
        try:
            blocks = quantize(llama_permute(w, n_head) if permuted else w, qtype)
            hf[hf_name] = w
        except NotImplementedError:
            blocks = random_blocks(qtype, *w.shape, seed=len(hf))
            try:
                values = dequantize(blocks, qtype).reshape(w.shape)
            except NotImplementedError:  # a type no one can read (to test refusals)
                values = np.zeros_like(w)
            hf[hf_name] = unpermute_rows(values, n_head) if permuted else values
        writer.add_tensor(name, blocks, raw_dtype=qtype)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    add("token_embd.weight", "model.embed_tokens.weight", mat(n_vocab, hidden), Q.Q8_0)
    for i in range(layers):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        add(
            p + "attn_q.weight",
            h + "self_attn.q_proj.weight",
            mat(hidden, hidden),
            matrix_type,
            heads,
        )
        add(
            p + "attn_k.weight",
            h + "self_attn.k_proj.weight",
            mat(kv_heads * head_dim, hidden),
            matrix_type,
            kv_heads,
        )
        add(
            p + "attn_v.weight",
            h + "self_attn.v_proj.weight",
            mat(kv_heads * head_dim, hidden),
            matrix_type,
        )
        add(
            p + "attn_output.weight",
            h + "self_attn.o_proj.weight",
            mat(hidden, hidden),
            matrix_type,
        )
        add(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", mat(hidden * 2, hidden), matrix_type)
        add(p + "ffn_up.weight", h + "mlp.up_proj.weight", mat(hidden * 2, hidden), matrix_type)
        add(p + "ffn_down.weight", h + "mlp.down_proj.weight", mat(hidden, hidden * 2), matrix_type)
        if arch == "qwen2":  # Qwen2's attention projections have biases
            for part, rows in (
                ("q", hidden),
                ("k", kv_heads * head_dim),
                ("v", kv_heads * head_dim),
            ):
                bias = (rng.standard_normal(rows) * 0.1).astype(np.float32)
                add(f"{p}attn_{part}.bias", f"{h}self_attn.{part}_proj.bias", bias, Q.F32)
        add(
            p + "attn_norm.weight", h + "input_layernorm.weight", np.ones(hidden, np.float32), Q.F32
        )
        add(
            p + "ffn_norm.weight",
            h + "post_attention_layernorm.weight",
            np.ones(hidden, np.float32),
            Q.F32,
        )
    add("output_norm.weight", "model.norm.weight", np.ones(hidden, np.float32), Q.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return hf
