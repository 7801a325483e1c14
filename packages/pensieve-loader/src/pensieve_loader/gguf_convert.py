"""Convert a llama-family GGUF file into an MLX model directory that ``mlx_lm.load`` accepts.

Every quantized matrix stays quantized at its GGUF width (``gguf_quant``), one tensor at a time,
so the MLX model is about the GGUF's size; float tensors (norms, biases, F16/BF16/F32 matrices)
are stored as float16. Q and K of ``llama`` models are un-permuted: llama.cpp interleaves their
rows for its RoPE kernel. Weights go to safetensors shards of at most ``SHARD_BYTES`` as they are
converted, so memory stays bounded by a shard, not the model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from gguf import GGUFReader, GGUFValueType, ReaderField, ReaderTensor
from gguf.quants import dequantize
from safetensors.numpy import save_file

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader.atomic import atomic_directory
from pensieve_loader.gguf_header import SUPPORTED_ARCHITECTURES, SUPPORTED_TOKENIZER
from pensieve_loader.gguf_quant import BITS, GROUP_SIZE, AffineTensor, requantize
from pensieve_loader.gguf_tokenizer import build_tokenizer, tokenizer_config
from pensieve_loader.progress import Progress

log = structlog.get_logger()

_LAYER_TENSORS = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_TENSORS = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_FLOAT_TYPES = frozenset({"F32", "F16", "BF16", "F64"})
SHARD_BYTES = 2 << 30
"""Largest safetensors shard written (a model below it is one ``model.safetensors``)."""


def _open(path: Path) -> GGUFReader:
    try:
        return GGUFReader(str(path))
    except (ValueError, IndexError, OSError, KeyError, TypeError) as e:
        raise ModelFormatError(
            f"{str(path)!r} is not a readable GGUF file: {e}", path=str(path)
        ) from e


def _field(reader: GGUFReader, key: str, default: Any = None) -> Any:
    field: ReaderField | None = reader.fields.get(key)
    if field is None:
        return default
    if field.types and field.types[0] == GGUFValueType.ARRAY and len(field.data) > 1_000:
        # contents() on 50k-entry arrays is slow; read the parts directly.
        if field.types[-1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]
        return [int(field.parts[i][0]) for i in field.data]
    return field.contents()


def _hf_name(gguf_name: str) -> str | None:
    stem, _, suffix = gguf_name.rpartition(".")
    if stem.startswith("blk."):
        _, index, part = stem.split(".", 2)
        mapped = _LAYER_TENSORS.get(part)
        return f"model.layers.{index}.{mapped}.{suffix}" if mapped else None
    mapped = _GLOBAL_TENSORS.get(stem)
    return f"{mapped}.{suffix}" if mapped else None


def unpermute_rows(rows: npt.NDArray[Any], n_head: int) -> npt.NDArray[Any]:
    """Undo llama.cpp's Q/K row permutation (the inverse of ``LlamaModel.permute``)."""
    shape = rows.shape
    split = rows.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:])
    return split.swapaxes(1, 2).reshape(shape)


# Control tokens that end a generation whatever the GGUF names as EOS (llama.cpp's own list, in
# llama-vocab.cpp): Qwen's `<|endoftext|>` beside `<|im_end|>`, Llama 3's `<|eom_id|>`...
_END_OF_GENERATION = frozenset(
    {
        "<|endoftext|>",
        "<|im_end|>",
        "<|eot_id|>",
        "<|eom_id|>",
        "<|end|>",
        "<end_of_turn>",
        "<|end_of_text|>",
        "<end_of_utterance>",
        "<EOT>",
        "<|return|>",
        "<|call|>",
    }
)
_CONTROL = 3
"""``tokenizer.ggml.token_type`` of control (special) tokens."""


def _end_of_generation(reader: GGUFReader, tokens: list[str]) -> int | list[int] | None:
    """The EOS id, with every other end-of-generation token (a list when there are several)."""
    eos = _field(reader, "tokenizer.ggml.eos_token_id")
    ids = [int(eos)] if eos is not None else []
    for key in ("eot_token_id", "eom_token_id"):
        if (value := _field(reader, f"tokenizer.ggml.{key}")) is not None:
            ids.append(int(value))
    types = _field(reader, "tokenizer.ggml.token_type") or []
    ids += [
        i
        for i, (text, kind) in enumerate(zip(tokens, types, strict=False))
        if kind == _CONTROL and text in _END_OF_GENERATION
    ]
    unique = list(dict.fromkeys(ids))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


def _config(reader: GGUFReader, arch: str, tied: bool, path: Path) -> dict[str, Any]:
    def need(key: str) -> Any:
        value = _field(reader, f"{arch}.{key}")
        if value is None:
            raise ModelFormatError(
                f"GGUF {str(path)!r} lacks metadata {arch}.{key!s}", path=str(path)
            )
        return value

    heads = int(need("attention.head_count"))
    hidden = int(need("embedding_length"))
    tokens = _field(reader, "tokenizer.ggml.tokens") or []
    config: dict[str, Any] = {
        "model_type": arch,
        "architectures": [
            {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}.get(arch, "Qwen3ForCausalLM")
        ],
        "hidden_size": hidden,
        "num_hidden_layers": int(need("block_count")),
        "intermediate_size": int(need("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_field(reader, f"{arch}.attention.head_count_kv", heads)),
        "head_dim": int(_field(reader, f"{arch}.attention.key_length", hidden // heads)),
        "rms_norm_eps": float(need("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        "max_position_embeddings": int(need("context_length")),
        "vocab_size": int(_field(reader, f"{arch}.vocab_size", len(tokens))),
        "tie_word_embeddings": tied,
        "torch_dtype": "float16",
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _end_of_generation(reader, tokens),
    }
    scaling = _field(reader, f"{arch}.rope.scaling.type")
    factor = _field(reader, f"{arch}.rope.scaling.factor")
    if scaling in ("linear", "yarn") and factor:
        config["rope_scaling"] = {"type": scaling, "rope_type": scaling, "factor": float(factor)}
    return config


def _tensor_arrays(
    tensor: ReaderTensor, arch: str, config: dict[str, Any]
) -> tuple[str, dict[str, npt.NDArray[Any]], int | None]:
    """Arrays to store for one GGUF tensor, its module, and its quantization bits (``None``: dense).

    Raises:
        UnsupportedModelError: the tensor's name or type is not one this converter knows.
    """
    name = _hf_name(tensor.name)
    if name is None:
        raise UnsupportedModelError(f"unexpected tensor {tensor.name!r}", path=tensor.name)
    kind = tensor.tensor_type.name
    n_head = None
    if arch == "llama" and ".self_attn.q_proj." in name:
        n_head = config["num_attention_heads"]
    elif arch == "llama" and ".self_attn.k_proj." in name:
        n_head = config["num_key_value_heads"]
    module = name.removesuffix(".weight").removesuffix(".bias")
    shape = tuple(int(d) for d in reversed(tensor.shape))
    if kind not in _FLOAT_TYPES and kind not in BITS:
        raise UnsupportedModelError(
            f"GGUF tensor {tensor.name!r} has type {kind}, which Pensieve cannot convert "
            f"(supported: {', '.join(sorted(_FLOAT_TYPES | BITS.keys()))})",
            path=tensor.name,
        )

    if kind in BITS and name.endswith(".weight") and len(shape) == 2:
        try:
            affine: AffineTensor = requantize(kind, np.asarray(tensor.data).reshape(shape[0], -1))
        except NotImplementedError as e:
            raise UnsupportedModelError(
                f"GGUF tensor {tensor.name!r} has type {kind}, which the gguf package cannot "
                "dequantize",
                path=tensor.name,
            ) from e
        parts: dict[str, npt.NDArray[Any]] = {
            "weight": affine.weight,
            "scales": affine.scales,
            "biases": affine.biases,
        }
        if n_head:
            parts = {k: unpermute_rows(v, n_head) for k, v in parts.items()}
        return module, {f"{module}.{k}": v for k, v in parts.items()}, affine.bits

    if kind == "BF16":
        array = (np.asarray(tensor.data).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif kind in _FLOAT_TYPES:
        array = np.asarray(tensor.data)
    else:  # a quantized vector (never seen in practice): dense
        array = dequantize(np.asarray(tensor.data), tensor.tensor_type)
    array = array.reshape(shape)
    if n_head and array.ndim >= 1:
        array = unpermute_rows(array, n_head)
    return module, {name: array.astype(np.float16)}, None


def _quantization(bits_by_module: dict[str, int | None]) -> dict[str, Any] | None:
    """mlx-lm's ``quantization`` config: the commonest width, and each module that differs."""
    quantized = [b for b in bits_by_module.values() if b is not None]
    if not quantized:
        return None
    default_bits = Counter(quantized).most_common(1)[0][0]
    quant: dict[str, Any] = {"group_size": GROUP_SIZE, "bits": default_bits, "mode": "affine"}
    for module, bits in sorted(bits_by_module.items()):
        if bits is None:
            if not module.endswith("norm"):
                quant[module] = False
        elif bits != default_bits:
            quant[module] = {"group_size": GROUP_SIZE, "bits": bits}
    return quant


class _ShardWriter:
    """Writes tensors to safetensors shards of at most ``SHARD_BYTES`` as they come."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._pending: dict[str, npt.NDArray[Any]] = {}
        self._pending_bytes = 0
        self._shards: list[list[str]] = []

    def add(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        size = sum(a.nbytes for a in arrays.values())
        if self._pending and self._pending_bytes + size > SHARD_BYTES:
            self._flush()
        self._pending.update(arrays)
        self._pending_bytes += size

    def _flush(self) -> None:
        index = len(self._shards)
        save_file(self._pending, str(self._dir / f"shard-{index}.tmp"), metadata={"format": "mlx"})
        self._shards.append(sorted(self._pending))
        self._pending, self._pending_bytes = {}, 0

    def close(self) -> int:
        """Write what is pending and name the shards as mlx-lm expects; the tensor count."""
        if self._pending or not self._shards:
            self._flush()
        count = len(self._shards)
        if count == 1:
            (self._dir / "shard-0.tmp").rename(self._dir / "model.safetensors")
            return len(self._shards[0])
        weight_map: dict[str, str] = {}
        for index, names in enumerate(self._shards):
            file = f"model-{index + 1:05d}-of-{count:05d}.safetensors"
            (self._dir / f"shard-{index}.tmp").rename(self._dir / file)
            weight_map.update(dict.fromkeys(names, file))
        index_json = {"metadata": {}, "weight_map": dict(sorted(weight_map.items()))}
        (self._dir / "model.safetensors.index.json").write_text(json.dumps(index_json, indent=2))
        return len(weight_map)


def convert_gguf(source: Path, destination: Path, progress: Progress | None = None) -> Path:
    """Convert ``source`` into the MLX model directory ``destination`` (written atomically).

    Raises:
        ModelFormatError: the file is truncated, corrupt or inconsistent.
        UnsupportedModelError: the architecture or tokenizer is not supported.
    """
    reader = _open(source)
    path = str(source)
    if (parts := int(_field(reader, "split.count", 1) or 1)) > 1:
        raise UnsupportedModelError(
            f"GGUF {path!r} is one of {parts} parts of a split model; merge them first "
            "(llama.cpp's `llama-gguf-split --merge FIRST-PART OUT.gguf`) and import the result",
            path=path,
        )
    arch = str(_field(reader, "general.architecture", ""))
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"GGUF {path!r} has architecture {arch!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}",
            path=path,
        )
    if _field(reader, "tokenizer.ggml.model") != SUPPORTED_TOKENIZER:
        raise UnsupportedModelError(
            f"GGUF {path!r} uses tokenizer model {_field(reader, 'tokenizer.ggml.model')!r}; "
            "only byte-level BPE ('gpt2') vocabularies are supported",
            path=path,
        )
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    config = _config(reader, arch, tied, source)
    tokens = _field(reader, "tokenizer.ggml.tokens")
    add_bos = bool(_field(reader, "tokenizer.ggml.add_bos_token", False))
    bos_id = _field(reader, "tokenizer.ggml.bos_token_id")
    tokenizer = build_tokenizer(
        tokens=tokens,
        merges=_field(reader, "tokenizer.ggml.merges", []),
        token_types=_field(reader, "tokenizer.ggml.token_type", []),
        pre=str(_field(reader, "tokenizer.ggml.pre", "default")),
        bos_id=bos_id,
        add_bos=add_bos,
        path=path,
    )
    tok_config = tokenizer_config(
        tokens=tokens,
        chat_template=_field(reader, "tokenizer.chat_template"),
        bos_id=bos_id,
        eos_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        unk_id=_field(reader, "tokenizer.ggml.unknown_token_id"),
        pad_id=_field(reader, "tokenizer.ggml.padding_token_id"),
        add_bos=add_bos,
        context_length=config["max_position_embeddings"],
    )
    bits_by_module: dict[str, int | None] = {}
    total = sum(int(t.n_bytes) for t in reader.tensors)
    done = 0
    with atomic_directory(destination) as tmp:
        shards = _ShardWriter(tmp)
        try:
            for tensor in reader.tensors:
                module, arrays, bits = _tensor_arrays(tensor, arch, config)
                shards.add(arrays)
                if tensor.name.endswith(".weight"):  # a bias says nothing of its module's format
                    bits_by_module[module] = bits
                done += int(tensor.n_bytes)
                if progress is not None:
                    progress(done, total)
        except (ValueError, IndexError) as e:
            raise ModelFormatError(f"GGUF {path!r} has a malformed tensor: {e}", path=path) from e
        count = shards.close()
        if (quant := _quantization(bits_by_module)) is not None:
            config["quantization"] = quant
            config["quantization_config"] = quant
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    log.info("gguf_converted", source=source.name, destination=str(destination), tensors=count)
    return destination
