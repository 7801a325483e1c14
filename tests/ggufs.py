"""Build small GGUF files for tests, in llama.cpp's own layout (Q/K rows permuted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import quantize

from pensieve_loader import embedded_gguf
from pensieve_loader.gguf_convert import _field

Q = GGMLQuantizationType


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
    tokenizer_model: str = "gpt2",
    context: int = 256,
) -> dict[str, np.ndarray]:
    """Write a random tiny llama GGUF; returns the HF-layout float weights that went in."""
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
        hf[hf_name] = w
        stored = llama_permute(w, n_head) if n_head and arch == "llama" else w
        if qtype == Q.F32:
            writer.add_tensor(name, stored.astype(np.float32))
        else:
            writer.add_tensor(name, quantize(stored.astype(np.float32), qtype), raw_dtype=qtype)

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
