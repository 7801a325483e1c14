"""Convert a GGUF file into an MLX model directory that ``mlx_lm.load`` accepts.

Which architectures, and how each maps onto an mlx-lm model class (tensor names, ``config.json``,
llama's permuted Q/K rows, Gemma's ``1 + w`` norms), is ``gguf_archs``; the vocabulary becomes a
``tokenizers`` tokenizer in ``gguf_tokenizer``. Every quantized matrix, stacked MoE experts
included, stays quantized at its GGUF width (``gguf_quant``), one tensor at a time, so the MLX
model is about the GGUF's size; float tensors (norms, biases, F16/BF16/F32 matrices) are stored as
float16. Weights go to safetensors shards of at most ``SHARD_BYTES`` as they are converted, so
memory stays bounded by a shard, not the model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from gguf import GGUFReader, ReaderTensor
from gguf.quants import dequantize
from safetensors.numpy import save_file
from tokenizers import Tokenizer

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader.atomic import atomic_directory
from pensieve_loader.gguf_archs import (
    Architecture,
    Metadata,
    architecture_of,
    read_field,
)
from pensieve_loader.gguf_header import FloatType
from pensieve_loader.gguf_quant import BITS, GROUP_SIZE, AffineTensor, requantize
from pensieve_loader.gguf_tokenizer import build_spm_tokenizer, build_tokenizer, tokenizer_config
from pensieve_loader.progress import Progress

log = structlog.get_logger()

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
    eos = read_field(reader, "tokenizer.ggml.eos_token_id")
    ids = [int(eos)] if eos is not None else []
    for key in ("eot_token_id", "eom_token_id"):
        if (value := read_field(reader, f"tokenizer.ggml.{key}")) is not None:
            ids.append(int(value))
    types = read_field(reader, "tokenizer.ggml.token_type") or []
    ids += [
        i
        for i, (text, kind) in enumerate(zip(tokens, types, strict=False))
        if kind == _CONTROL and text in _END_OF_GENERATION
    ]
    unique = list(dict.fromkeys(ids))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


def _config(meta: Metadata, arch: Architecture, tied: bool) -> dict[str, Any]:
    """``config.json``: the keys every architecture shares, then the architecture's own."""
    reader = meta.reader
    heads = int(meta.uniform("attention.head_count") or meta.need("attention.head_count"))
    hidden = int(meta.need("embedding_length"))
    head_dim = int(meta.uniform("attention.key_length", hidden // heads))
    if arch.derived_head_dim and head_dim != hidden // heads:
        meta.refuse(
            f"its head size {head_dim} is not hidden size / heads ({hidden // heads}), which "
            f"mlx-lm's {arch.model_type} assumes"
        )
    tokens = read_field(reader, "tokenizer.ggml.tokens") or []
    embedding = meta.shape("token_embd.weight")
    config: dict[str, Any] = {
        "model_type": arch.model_type,
        "architectures": [arch.hf_class],
        "hidden_size": hidden,
        "num_hidden_layers": int(meta.need("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.uniform("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "rms_norm_eps": float(meta.need("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(meta.get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(meta.need("context_length")),
        "vocab_size": embedding[0] if embedding else int(meta.get("vocab_size", len(tokens))),
        "tie_word_embeddings": tied and arch.head != "untied",
        "torch_dtype": "float16",
        "bos_token_id": read_field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _end_of_generation(reader, tokens),
        "pad_token_id": read_field(reader, "tokenizer.ggml.padding_token_id"),
    }
    if (ffn := meta.uniform("feed_forward_length")) is not None:
        config["intermediate_size"] = int(ffn)
    scaling = meta.get("rope.scaling.type")
    factor = meta.get("rope.scaling.factor")
    if scaling in ("linear", "yarn") and factor:
        config["rope_scaling"] = {"type": scaling, "rope_type": scaling, "factor": float(factor)}
        original = meta.get("rope.scaling.original_context_length")
        if scaling == "yarn" and original:
            config["rope_scaling"]["original_max_position_embeddings"] = int(original)
    arch.extra(meta, config)
    if "intermediate_size" not in config:
        meta.need("feed_forward_length")
    return config


def _requantized(
    tensor: ReaderTensor, kind: str, shape: tuple[int, ...]
) -> tuple[dict[str, npt.NDArray[Any]], int]:
    """A quantized matrix (or stack of expert matrices) in MLX affine form, and its width."""
    raw = np.asarray(tensor.data)
    try:
        affine: AffineTensor = requantize(kind, raw.reshape(-1, raw.shape[-1]))
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
    return {k: v.reshape(*shape[:-1], -1) for k, v in parts.items()}, affine.bits


def _tensor_arrays(
    tensor: ReaderTensor, arch: Architecture, config: dict[str, Any], dtype: FloatType | None = None
) -> tuple[str, dict[str, npt.NDArray[Any]], int | None]:
    """Arrays to store for one GGUF tensor, its module, and its quantization bits (``None``: dense).

    ``dtype`` asks for every tensor as that float type (quantized ones dequantized, one at a time).

    Raises:
        UnsupportedModelError: the tensor's name or type is not one this converter knows.
    """
    name = arch.hf_name(tensor.name)
    if name is None:
        raise UnsupportedModelError(
            f"GGUF tensor {tensor.name!r} is not part of a {arch.gguf} model as mlx-lm's "
            f"{arch.model_type} holds it",
            path=tensor.name,
        )
    kind = tensor.tensor_type.name
    n_head = None
    if arch.permuted_qk and ".self_attn.q_proj." in name:
        n_head = config["num_attention_heads"]
    elif arch.permuted_qk and ".self_attn.k_proj." in name:
        n_head = config["num_key_value_heads"]
    module = name.removesuffix(".weight").removesuffix(".bias")
    shape = tuple(int(d) for d in reversed(tensor.shape))
    if kind not in _FLOAT_TYPES and kind not in BITS:
        raise UnsupportedModelError(
            f"GGUF tensor {tensor.name!r} has type {kind}, which Pensieve cannot convert "
            f"(supported: {', '.join(sorted(_FLOAT_TYPES | BITS.keys()))})",
            path=tensor.name,
        )

    if dtype is None and kind in BITS and name.endswith(".weight") and len(shape) in (2, 3):
        parts, bits = _requantized(tensor, kind, shape)
        if n_head:
            parts = {k: unpermute_rows(v, n_head) for k, v in parts.items()}
        return module, {f"{module}.{k}": v for k, v in parts.items()}, bits

    if kind == "BF16":
        array = (np.asarray(tensor.data).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif kind in _FLOAT_TYPES:
        array = np.asarray(tensor.data)
    else:  # a quantized vector (never seen in practice): dense
        array = dequantize(np.asarray(tensor.data), tensor.tensor_type)
    array = array.reshape(shape)
    if n_head and array.ndim >= 1:
        array = unpermute_rows(array, n_head)
    if arch.norm_offset and name.endswith("norm.weight"):
        array = array.astype(np.float32) - 1.0  # llama.cpp stored Gemma's 1 + w
    if name.endswith("shared_expert_gate.weight"):
        array = array.reshape(1, -1)  # a (1, hidden) Linear; llama.cpp may store it as a vector
    return module, {name: array.astype(dtype or "float16")}, None


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


def _tokenizer(reader: GGUFReader, path: str, context: int) -> tuple[Tokenizer, dict[str, Any]]:
    """The ``tokenizers`` tokenizer and ``tokenizer_config.json`` of the GGUF's vocabulary."""
    model = read_field(reader, "tokenizer.ggml.model")
    tokens = read_field(reader, "tokenizer.ggml.tokens")
    if model not in ("gpt2", "llama") or not tokens:
        raise UnsupportedModelError(
            f"GGUF {path!r} uses tokenizer model {model!r}; supported: 'gpt2' (byte-level BPE) "
            "and 'llama' (SentencePiece)",
            path=path,
        )
    token_types = read_field(reader, "tokenizer.ggml.token_type", [])
    if model == "llama":
        # llama.cpp's defaults for SentencePiece vocabularies (llama-vocab.cpp).
        add_bos = bool(read_field(reader, "tokenizer.ggml.add_bos_token", True))
        bos_id = read_field(reader, "tokenizer.ggml.bos_token_id", 1)
        eos_id = read_field(reader, "tokenizer.ggml.eos_token_id", 2)
        unk_id = read_field(reader, "tokenizer.ggml.unknown_token_id", 0)
        scores = read_field(reader, "tokenizer.ggml.scores")
        if scores is None or len(scores) != len(tokens):
            raise ModelFormatError(
                f"GGUF {path!r} has a SentencePiece vocabulary without a score per token",
                path=path,
            )
        tokenizer = build_spm_tokenizer(
            tokens=tokens,
            scores=scores,
            token_types=token_types,
            bos_id=bos_id,
            add_bos=add_bos,
            unk_id=unk_id,
            add_space_prefix=bool(read_field(reader, "tokenizer.ggml.add_space_prefix", True)),
        )
    else:
        add_bos = bool(read_field(reader, "tokenizer.ggml.add_bos_token", False))
        bos_id = read_field(reader, "tokenizer.ggml.bos_token_id")
        eos_id = read_field(reader, "tokenizer.ggml.eos_token_id")
        unk_id = read_field(reader, "tokenizer.ggml.unknown_token_id")
        tokenizer = build_tokenizer(
            tokens=tokens,
            merges=read_field(reader, "tokenizer.ggml.merges", []),
            token_types=token_types,
            pre=str(read_field(reader, "tokenizer.ggml.pre", "default")),
            bos_id=bos_id,
            add_bos=add_bos,
            path=path,
        )
    tok_config = tokenizer_config(
        tokens=tokens,
        chat_template=read_field(reader, "tokenizer.chat_template"),
        bos_id=bos_id,
        eos_id=eos_id,
        unk_id=unk_id,
        pad_id=read_field(reader, "tokenizer.ggml.padding_token_id"),
        add_bos=add_bos,
        context_length=context,
    )
    return tokenizer, tok_config


def _untied_head(
    arch: Architecture, tied: bool, module: str, arrays: dict[str, npt.NDArray[Any]]
) -> dict[str, npt.NDArray[Any]]:
    """The embedding again as ``lm_head``, for a tied GGUF of a model that mlx-lm never ties."""
    if not (tied and arch.head == "untied" and module == "model.embed_tokens"):
        return {}
    return {k.replace("model.embed_tokens", "lm_head", 1): v for k, v in arrays.items()}


def convert_gguf(
    source: Path,
    destination: Path,
    progress: Progress | None = None,
    dtype: FloatType | None = None,
) -> Path:
    """Convert ``source`` into the MLX model directory ``destination`` (written atomically).

    Quantized tensors stay quantized at their width unless ``dtype`` asks for floats.

    Raises:
        ModelFormatError: the file is truncated, corrupt or inconsistent.
        UnsupportedModelError: the architecture or tokenizer is not supported.
    """
    reader = _open(source)
    path = str(source)
    if (parts := int(read_field(reader, "split.count", 1) or 1)) > 1:
        raise UnsupportedModelError(
            f"GGUF {path!r} is one of {parts} parts of a split model; merge them first "
            "(llama.cpp's `llama-gguf-split --merge FIRST-PART OUT.gguf`) and import the result",
            path=path,
        )
    arch = architecture_of(reader, source)
    meta = Metadata(reader, arch.gguf, source)
    tied = "output.weight" not in meta.tensors
    if not tied and arch.head == "tied":
        meta.refuse(
            f"it has an output matrix apart from its embedding; mlx-lm's "
            f"{arch.model_type} always ties them"
        )
    config = _config(meta, arch, tied)
    if dtype is not None:
        config["torch_dtype"] = dtype
    tokenizer, tok_config = _tokenizer(reader, path, config["max_position_embeddings"])
    bits_by_module: dict[str, int | None] = {}
    config_names = arch.config_names()
    total = sum(int(t.n_bytes) for t in reader.tensors)
    done = 0
    with atomic_directory(destination) as tmp:
        shards = _ShardWriter(tmp)
        try:
            for tensor in reader.tensors:
                done += int(tensor.n_bytes)
                if tensor.name in config_names:
                    continue  # already in config.json
                module, arrays, bits = _tensor_arrays(tensor, arch, config, dtype)
                head = _untied_head(arch, tied, module, arrays)
                shards.add(arrays | head)
                if tensor.name.endswith(".weight"):  # a bias says nothing of its module's format
                    bits_by_module[module] = bits
                    if head:
                        bits_by_module["lm_head"] = bits
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
    log.info(
        "gguf_converted",
        source=source.name,
        destination=str(destination),
        architecture=arch.model_type,
        tensors=count,
    )
    return destination
