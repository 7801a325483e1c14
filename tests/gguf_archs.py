"""Tiny random models of each architecture, written as GGUFs the way llama.cpp's converter does.

A model is a Hugging Face ``config.json`` and checkpoint (HF tensor names, per-expert MoE weights,
Gemma's ``w`` of ``1 + w`` norms). ``write_like_llama_cpp`` turns it into a GGUF as
``convert_hf_to_gguf.py`` would: metadata from the config (``set_gguf_parameters``), tensors named
through the ``gguf`` package's own ``TensorNameMap``, experts stacked, Gemma norms stored as
``1 + w``, llama Q/K rows permuted, Llama 3 and Phi-3 RoPE scaling as factor tensors. The checkpoint
loaded straight into mlx-lm's model class is the reference the converted GGUF must match.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from gguf import (
    MODEL_ARCH_NAMES,
    GGMLQuantizationType,
    GGUFWriter,
    RopeScalingType,
    get_tensor_name_map,
)
from gguf.quants import dequantize, quantize

from pensieve_loader.gguf_convert import unpermute_rows
from tests.ggufs import llama_permute, random_blocks

Q = GGMLQuantizationType
_ARCH = {name: arch for arch, name in MODEL_ARCH_NAMES.items()}

# --- vocabularies ---------------------------------------------------------------------------

_CORPUS = """The quick brown fox jumps over the lazy dog.
Pensieve serves local language models through familiar APIs.
A tokenizer splits text into pieces; the model predicts the next piece.
Numbers like 12345 and 2026 are split into digits.
Café, naïve, façade and jalapeño keep their accents.
She sells sea shells by the sea shore, and the shells she sells are sea shells.
Peter Piper picked a peck of pickled peppers.
How much wood would a woodchuck chuck if a woodchuck could chuck wood?
In the beginning there was the word, and the word was tokenized.
To be or not to be, that is the question.
All that glitters is not gold; all who wander are not lost.
The rain in Spain stays mainly in the plain.
Colorless green ideas sleep furiously.
Two  spaces,   three spaces, and    four spaces appear here.
"""


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte (what byte-level BPE vocabularies spell)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def tiny_bpe_vocab() -> dict[str, Any]:
    """A 270-token byte-level BPE vocabulary (Qwen-style specials and pre-tokenizer)."""
    base = [bytes_to_unicode()[b] for b in range(256)]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "r e", "Ġ s"]
    tokens = base + ["".join(m.split()) for m in merges]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return {
        "model": "gpt2",
        "pre": "qwen2",
        "tokens": tokens + specials,
        "merges": merges,
        "token_type": [1] * len(tokens) + [3] * len(specials),
        "eos_token_id": len(tokens) + 2,
        "chat_template": "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}",
    }


def train_spm(vocab_size: int = 420) -> Any:
    """A tiny SentencePiece BPE model with byte fallback, trained on ``_CORPUS`` (deterministic)."""
    import sentencepiece as spm

    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS.splitlines()),
        model_writer=proto,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        control_symbols=["<start_of_turn>", "<end_of_turn>"],
        num_threads=1,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=proto.getvalue())


def spm_vocab(sp: Any, *, add_space_prefix: bool = True) -> dict[str, Any]:
    """A SentencePiece model's vocabulary as llama.cpp's ``_create_vocab_sentencepiece`` writes it."""
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        kind = 1  # normal
        if sp.is_unknown(i):
            kind = 2
        elif sp.is_control(i):
            kind = 3
        elif sp.is_unused(i):
            kind = 5
        elif sp.is_byte(i):
            kind = 6
        types.append(kind)
    return {
        "model": "llama",
        "pre": "default",
        "tokens": tokens,
        "scores": scores,
        "token_type": types,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "unknown_token_id": 0,
        "add_space_prefix": add_space_prefix,
        "chat_template": "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['content'] }}"
        "<end_of_turn>{% endfor %}",
    }


def llama_cpp_spm(text: str, tokens: list[str], scores: list[float], *, prefix: bool) -> list[int]:
    """llama.cpp's ``llm_tokenizer_spm`` on one run of text (a plain port, for reference).

    Characters start as symbols; the adjacent pair whose union is the highest-scoring token (the
    leftmost on ties) joins until none does; a symbol that is no token is spelled in byte tokens.
    """
    if not text:
        return []
    vocab = {t: i for i, t in enumerate(tokens)}
    symbols = list(("▁" if prefix else "") + text.replace(" ", "▁"))
    while True:
        best: tuple[float, int] | None = None
        for i in range(len(symbols) - 1):
            joined = symbols[i] + symbols[i + 1]
            if joined in vocab and (best is None or scores[vocab[joined]] > best[0]):
                best = (scores[vocab[joined]], i)
        if best is None:
            break
        i = best[1]
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    out: list[int] = []
    for s in symbols:
        out += [vocab[s]] if s in vocab else [vocab[f"<0x{b:02X}>"] for b in s.encode()]
    return out


# --- models ---------------------------------------------------------------------------------

_COMMON = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
}

HF_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {"model_type": "llama"},
    "qwen2": {"model_type": "qwen2"},
    "qwen3": {"model_type": "qwen3", "head_dim": 32, "tie_word_embeddings": False},
    "llama3": {
        "model_type": "llama",
        "hidden_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "rope_theta": 500000.0,
        "max_position_embeddings": 131072,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
    },
    "mistral": {
        "model_type": "mistral",
        "head_dim": 32,  # heads * head_dim != hidden, as in Mistral Nemo
        "rope_theta": 1000000.0,
        "tie_word_embeddings": False,
    },
    "mixtral": {
        "model_type": "mixtral",
        "intermediate_size": 32,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "tie_word_embeddings": False,
    },
    "qwen2moe": {
        "model_type": "qwen2_moe",
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 64,
        "tie_word_embeddings": True,  # mlx-lm's qwen2_moe never ties: lm_head is a copy
    },
    "qwen3moe": {
        "model_type": "qwen3_moe",
        "head_dim": 32,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "norm_topk_prob": True,
        "tie_word_embeddings": False,
    },
    "phi3": {
        "model_type": "phi3",
        "partial_rotary_factor": 0.75,
        "max_position_embeddings": 1024,
        "original_max_position_embeddings": 256,
        "rope_scaling": {
            "type": "longrope",
            "long_factor": [1.0, 1.5, 2.0, 3.0, 4.0, 6.0],
            "short_factor": [1.0, 1.0, 1.1, 1.2, 1.3, 1.5],
        },
    },
    "gemma": {"model_type": "gemma", "head_dim": 16, "num_key_value_heads": 1},
    "gemma2": {
        "model_type": "gemma2",
        "head_dim": 32,
        "attn_logit_softcapping": 20.0,
        "final_logit_softcapping": 15.0,
        "query_pre_attn_scalar": 32,
        "sliding_window": 4096,
    },
    "gemma3": {
        "model_type": "gemma3_text",
        "num_hidden_layers": 6,  # one global layer after five sliding ones
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0,
        "sliding_window": 4,
        "sliding_window_pattern": 6,
        "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    },
}
"""Each test model's Hugging Face config (over ``_COMMON``), keyed by test name."""

GGUF_ARCH = {
    "llama": "llama",
    "llama3": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen2moe": "qwen2moe",
    "qwen3moe": "qwen3moe",
    "phi3": "phi3",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
}
_PERMUTED = {"llama"}
_GEMMA = {"gemma", "gemma2", "gemma3"}


def hf_config(name: str, vocab_size: int, **overrides: Any) -> dict[str, Any]:
    return {**_COMMON, **HF_CONFIGS[name], "vocab_size": vocab_size, **overrides}


class _Random:
    def __init__(self, seed: int, gemma: bool) -> None:
        self.rng = np.random.default_rng(seed)
        self.gemma = gemma

    def mat(self, rows: int, cols: int) -> np.ndarray:
        return (self.rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    def norm(self, n: int) -> np.ndarray:  # Gemma stores w of (1 + w)
        return ((0.0 if self.gemma else 1.0) + self.rng.standard_normal(n) * 0.1).astype(np.float32)


def _attention(config: dict[str, Any], r: _Random, p: str) -> dict[str, np.ndarray]:
    kind, hidden = config["model_type"], config["hidden_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim", hidden // heads)
    w = {p + "input_layernorm.weight": r.norm(hidden)}
    if kind == "phi3":
        w[p + "self_attn.qkv_proj.weight"] = r.mat((heads + 2 * kv) * head_dim, hidden)
    else:
        for part, n in (("q", heads), ("k", kv), ("v", kv)):
            w[p + f"self_attn.{part}_proj.weight"] = r.mat(n * head_dim, hidden)
            if kind in ("qwen2", "qwen2_moe"):  # biased projections
                w[p + f"self_attn.{part}_proj.bias"] = r.mat(1, n * head_dim)[0]
    w[p + "self_attn.o_proj.weight"] = r.mat(hidden, heads * head_dim)
    if kind in ("qwen3", "qwen3_moe", "gemma3_text"):
        w[p + "self_attn.q_norm.weight"] = r.norm(head_dim)
        w[p + "self_attn.k_norm.weight"] = r.norm(head_dim)
    w[p + "post_attention_layernorm.weight"] = r.norm(hidden)
    if kind in ("gemma2", "gemma3_text"):
        w[p + "pre_feedforward_layernorm.weight"] = r.norm(hidden)
        w[p + "post_feedforward_layernorm.weight"] = r.norm(hidden)
    return w


def _glu(
    r: _Random, p: str, names: tuple[str, str, str], hidden: int, ff: int
) -> dict[str, np.ndarray]:
    gate, up, down = names
    return {
        f"{p}{gate}.weight": r.mat(ff, hidden),
        f"{p}{up}.weight": r.mat(ff, hidden),
        f"{p}{down}.weight": r.mat(hidden, ff),
    }


def _mlp(config: dict[str, Any], r: _Random, p: str) -> dict[str, np.ndarray]:
    kind, hidden, ff = config["model_type"], config["hidden_size"], config["intermediate_size"]
    projections = ("gate_proj", "up_proj", "down_proj")
    if kind == "phi3":
        return {
            p + "mlp.gate_up_proj.weight": r.mat(2 * ff, hidden),
            p + "mlp.down_proj.weight": r.mat(hidden, ff),
        }
    if kind == "mixtral":
        experts = config["num_local_experts"]
        w = {p + "block_sparse_moe.gate.weight": r.mat(experts, hidden)}
        for e in range(experts):
            w |= _glu(r, f"{p}block_sparse_moe.experts.{e}.", ("w1", "w3", "w2"), hidden, ff)
        return w
    if kind not in ("qwen2_moe", "qwen3_moe"):
        return _glu(r, p + "mlp.", projections, hidden, ff)
    experts, moe = config["num_experts"], config["moe_intermediate_size"]
    w = {p + "mlp.gate.weight": r.mat(experts, hidden)}
    for e in range(experts):
        w |= _glu(r, f"{p}mlp.experts.{e}.", projections, hidden, moe)
    if kind == "qwen2_moe":
        shared = config["shared_expert_intermediate_size"]
        w |= _glu(r, p + "mlp.shared_expert.", projections, hidden, shared)
        w[p + "mlp.shared_expert_gate.weight"] = r.mat(1, hidden)
    return w


def hf_checkpoint(config: dict[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights under the names a Hugging Face checkpoint of ``config`` uses."""
    kind, hidden = config["model_type"], config["hidden_size"]
    r = _Random(seed, gemma=kind.startswith("gemma"))
    w = {"model.embed_tokens.weight": r.mat(config["vocab_size"], hidden)}
    for i in range(config["num_hidden_layers"]):
        w |= _attention(config, r, f"model.layers.{i}.") | _mlp(config, r, f"model.layers.{i}.")
    w["model.norm.weight"] = r.norm(hidden)
    if kind == "qwen2_moe":  # mlx-lm's qwen2_moe holds an lm_head even when tied
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    elif not config.get("tie_word_embeddings", True):
        w["lm_head.weight"] = r.mat(config["vocab_size"], hidden)
    return w


def llama3_rope_factors(config: dict[str, Any]) -> np.ndarray:
    """``LlamaModel.generate_extra_tensors``: the ``rope_freqs`` of a Llama 3.1 config."""
    scaling = config["rope_scaling"]
    factor, old = scaling["factor"], scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    dim = config.get("head_dim", config["hidden_size"] // config["num_attention_heads"])
    freqs = 1.0 / (config["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            factors.append(1.0)
        elif wavelen > old / low:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def _metadata(writer: GGUFWriter, arch: str, config: dict[str, Any]) -> None:
    """``set_gguf_parameters`` of llama.cpp's converter for these architectures."""
    heads = config["num_attention_heads"]
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    if "head_dim" in config:
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    if (experts := config.get("num_experts") or config.get("num_local_experts")) is not None:
        writer.add_expert_count(experts)
        writer.add_expert_used_count(config["num_experts_per_tok"])
    if "moe_intermediate_size" in config:
        writer.add_expert_feed_forward_length(config["moe_intermediate_size"])
    if "shared_expert_intermediate_size" in config:
        writer.add_expert_shared_feed_forward_length(config["shared_expert_intermediate_size"])
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(scaling["factor"])
    if arch == "gemma2":
        writer.add_attn_logit_softcapping(config["attn_logit_softcapping"])
        writer.add_final_logit_softcapping(config["final_logit_softcapping"])
        writer.add_sliding_window(config["sliding_window"])
    if arch == "gemma3":
        writer.add_sliding_window(config["sliding_window"])
    if arch == "phi3":
        head_dim = config["hidden_size"] // heads
        writer.add_rope_dimension_count(int(config["partial_rotary_factor"] * head_dim))
        original = config["original_max_position_embeddings"]
        writer.add_rope_scaling_orig_ctx_len(original)
        scale = config["max_position_embeddings"] / original
        writer.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(original)))


def _vocabulary(writer: GGUFWriter, vocab: dict[str, Any]) -> None:
    writer.add_tokenizer_model(vocab["model"])
    writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    if "scores" in vocab:
        writer.add_token_scores(vocab["scores"])
    if "merges" in vocab:
        writer.add_token_merges(vocab["merges"])
    writer.add_token_types(vocab["token_type"])
    for key, add in (
        ("bos_token_id", writer.add_bos_token_id),
        ("eos_token_id", writer.add_eos_token_id),
        ("unknown_token_id", writer.add_unk_token_id),
    ):
        if key in vocab:
            add(vocab[key])
    if "add_space_prefix" in vocab:
        writer.add_add_space_prefix(vocab["add_space_prefix"])
    writer.add_chat_template(vocab["chat_template"])


def _merge_experts(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-expert matrices stacked into one 3D tensor per layer, as ``Qwen2MoeModel`` does."""
    merged: dict[str, np.ndarray] = {}
    groups: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for name, w in weights.items():
        if m := re.fullmatch(r"(.+\.experts)\.(\d+)\.(\w+)\.weight", name):
            groups[f"{m[1]}.{m[3]}.weight"][int(m[2])] = w
        else:
            merged[name] = w
    for name, by_expert in groups.items():
        merged[name] = np.stack([by_expert[e] for e in sorted(by_expert)])
    return merged


def _llama_cpp_tensor(arch: str, config: dict[str, Any], hf_name: str, w: np.ndarray) -> np.ndarray:
    """``modify_tensors``: Gemma's norms as ``1 + w``, llama's Q/K rows permuted."""
    if arch in _GEMMA and hf_name.endswith("norm.weight"):
        return w + 1.0
    if arch in _PERMUTED and hf_name.endswith("q_proj.weight"):
        return llama_permute(w, config["num_attention_heads"])
    if arch in _PERMUTED and hf_name.endswith("k_proj.weight"):
        return llama_permute(w, config["num_key_value_heads"])
    return w


def _extra_tensors(config: dict[str, Any]) -> dict[str, np.ndarray]:
    """``generate_extra_tensors``: RoPE scaling as factor vectors (Llama 3.1, Phi-3)."""
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "llama3":
        return {"rope_freqs.weight": llama3_rope_factors(config)}
    if scaling.get("type") == "longrope":
        return {
            f"rope_factors_{which}.weight": np.array(scaling[f"{which}_factor"], np.float32)
            for which in ("long", "short")
        }
    return {}


def write_like_llama_cpp(
    path: Path,
    name: str,
    config: dict[str, Any],
    weights: dict[str, np.ndarray],
    vocab: dict[str, Any],
    *,
    matrix_type: GGMLQuantizationType = Q.F32,
    only: str = "",
    arch: str | None = None,
) -> dict[str, np.ndarray]:
    """Write the checkpoint as llama.cpp's converter would; the HF weights as the GGUF holds them.

    Matrices (2D and 3D) are stored as ``matrix_type``; norms, biases, vectors and MoE routers as
    F32. The returned checkpoint has quantized matrices replaced by their dequantized values: the
    weights the converted model must reproduce. ``only`` restricts quantization to GGUF tensors
    whose name holds it; ``arch`` overrides ``general.architecture``.
    """
    writer = GGUFWriter(str(path), arch or GGUF_ARCH[name])
    arch = GGUF_ARCH[name]
    _metadata(writer, arch, config)
    _vocabulary(writer, vocab)
    names = get_tensor_name_map(_ARCH[arch], config["num_hidden_layers"])
    tied = config.get("tie_word_embeddings", True)
    held = dict(weights)
    for hf_name, w in _merge_experts(weights).items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp writes no output matrix
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if hf_name == "lm_head.weight" and gguf_name is None:
            gguf_name = "output.weight"  # an architecture llama.cpp always ties (to test refusals)
        assert gguf_name is not None, f"the gguf package has no name for {hf_name}"
        data = _llama_cpp_tensor(arch, config, hf_name, w)
        router = gguf_name.endswith("ffn_gate_inp.weight")  # llama.cpp keeps routers in F32
        dense = matrix_type == Q.F32 or only not in gguf_name or router
        if dense or data.ndim < 2 or min(data.shape[-2:]) == 1:
            writer.add_tensor(gguf_name, data.astype(np.float32))
            continue
        try:
            blocks = quantize(data, matrix_type)
        except NotImplementedError:  # K and IQ types: random well-formed blocks stand in
            rows = random_blocks(matrix_type, int(np.prod(data.shape[:-1])), data.shape[-1])
            blocks = rows.reshape(*data.shape[:-1], -1)
        writer.add_tensor(gguf_name, blocks, raw_dtype=matrix_type)
        values = dequantize(blocks, matrix_type).reshape(data.shape)
        if arch in _PERMUTED and hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = config["num_attention_heads" if "q_proj" in hf_name else "num_key_value_heads"]
            values = unpermute_rows(values, heads)
        _hold(held, hf_name, values)
    if "lm_head.weight" in weights and tied:
        held["lm_head.weight"] = held["model.embed_tokens.weight"]
    for gguf_name, data in _extra_tensors(config).items():
        writer.add_tensor(gguf_name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return held


def _hold(held: dict[str, np.ndarray], hf_name: str, values: np.ndarray) -> None:
    """Put a (dequantized) GGUF tensor back under its checkpoint names (experts split again)."""
    if m := re.fullmatch(r"(.+\.experts)\.(\w+)\.weight", hf_name):
        for e in range(values.shape[0]):
            held[f"{m[1]}.{e}.{m[2]}.weight"] = values[e]
    else:
        held[hf_name] = values
