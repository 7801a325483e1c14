"""Validate an MLX model directory and summarize it, reading only metadata."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader.safetensors_index import TensorEntry, read_index

# Architectures whose decoder layers all hold the same tensors: a tensor missing from one layer
# is then certainly a broken file, not a heterogeneous design.
_HOMOGENEOUS = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "starcoder2"}
)
# mlx-lm loads these under another module's name (mlx_lm.utils.MODEL_REMAPPING).
_REMAPPED = {"mistral": "llama", "iquestcoder": "llama", "xverse": "llama", "falcon_mamba": "mamba"}
_LAYER = re.compile(r"layers\.(\d+)\.(.+)$")


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """What a validated model directory holds."""

    path: Path
    architecture: str
    context_length: int
    parameters: int
    quantization: str
    """``4-bit`` (with ``+8-bit`` parts), or the dense dtype such as ``float16``."""
    size_bytes: int
    supports_tools: bool
    chat_template: str | None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ModelFormatError(f"{str(path)!r} is missing", path=str(path)) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{str(path)!r} is not valid JSON: {e}", path=str(path)) from e
    if not isinstance(data, dict):
        raise ModelFormatError(f"{str(path)!r} does not hold a JSON object", path=str(path))
    return data


@lru_cache(maxsize=1)
def supported_model_types() -> frozenset[str] | None:
    """Model types the installed mlx-lm implements, from its file list (without importing it)."""
    try:
        files = metadata.files("mlx-lm") or []
    except metadata.PackageNotFoundError:
        return None
    names = {f.stem for f in files if f.parent.as_posix() == "mlx_lm/models" and f.suffix == ".py"}
    return frozenset(names | {k for k, v in _REMAPPED.items() if v in names})


def chat_template_of(model_dir: Path) -> str | None:
    """The chat template from ``tokenizer_config.json`` or a ``chat_template.jinja`` file."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        template = _read_json(config).get("chat_template")
        if isinstance(template, str):
            return template
        if isinstance(template, list) and template:  # named templates: take "default"
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            chosen = named.get("default") or next(iter(named.values()))
            return chosen if isinstance(chosen, str) else None
    return None


def _bits_of(module: str, quant: dict[str, Any]) -> int | None:
    override = quant.get(module)
    if override is False:
        return None
    if isinstance(override, dict):
        return int(override.get("bits", quant.get("bits", 4)))
    return int(quant.get("bits", 4))


def _count_parameters(tensors: dict[str, TensorEntry], quant: dict[str, Any] | None) -> int:
    total = 0
    for name, entry in tensors.items():
        if (
            name.endswith((".scales", ".biases"))
            and quant
            and name.rsplit(".", 1)[0] + ".weight" in tensors
        ):
            continue
        count = 1
        for dim in entry.shape:
            count *= dim
        if quant and entry.dtype == "U32" and name.endswith(".weight"):
            bits = _bits_of(name.removesuffix(".weight"), quant) or 32
            count = count * 32 // bits
        total += count
    return total


def _check_layers(tensors: dict[str, TensorEntry], config: dict[str, Any], model_dir: Path) -> None:
    n_layers = config.get("num_hidden_layers") or config.get("text_config", {}).get(
        "num_hidden_layers"
    )
    by_layer: dict[int, set[str]] = {}
    for name in tensors:
        # A module may be quantized in one layer and dense in another (GGUF "K_M" mixes,
        # mlx-lm's per-module overrides): only its weight and bias must be in every layer.
        if (match := _LAYER.search(name)) and not name.endswith((".scales", ".biases")):
            by_layer.setdefault(int(match.group(1)), set()).add(match.group(2))
    where = str(model_dir)
    if n_layers and by_layer and sorted(by_layer) != list(range(int(n_layers))):
        raise ModelFormatError(
            f"config.json says {n_layers} layers but the weights hold layers "
            f"{min(by_layer)}..{max(by_layer)} ({len(by_layer)} of them) in {where!r}",
            path=where,
        )
    if config.get("model_type") in _HOMOGENEOUS and by_layer:
        expected = set.union(*by_layer.values())
        for index, names in sorted(by_layer.items()):
            if missing := sorted(expected - names):
                raise ModelFormatError(
                    f"layer {index} lacks tensor {missing[0]!r} in the weights of {where!r}",
                    path=where,
                )
    for name, entry in sorted(tensors.items()):
        if entry.dtype != "U32" or not name.endswith(".weight"):
            continue
        # Packed codes need their scales, and affine ones (float scales) their biases too.
        module = name.removesuffix(".weight")
        scales = tensors.get(f"{module}.scales")
        lacking = (
            "scales"
            if scales is None
            else "biases"
            if scales.dtype != "U8" and f"{module}.biases" not in tensors
            else None
        )
        if lacking:
            match = _LAYER.search(module)
            what = f"layer {match.group(1)}" if match else "the model"
            part = match.group(2) if match else module
            raise ModelFormatError(
                f"{what} lacks tensor '{part}.{lacking}' in the weights of {where!r}", path=where
            )


def _check_embedding(
    tensors: dict[str, TensorEntry], config: dict[str, Any], model_dir: Path
) -> None:
    vocab = config.get("vocab_size")
    for name, entry in tensors.items():
        if name.endswith("embed_tokens.weight") and vocab and entry.shape[0] != vocab:
            raise ModelFormatError(
                f"{name!r} has {entry.shape[0]} rows but config.json says vocab_size={vocab} in "
                f"{str(model_dir)!r}",
                path=str(model_dir),
            )


MAX_CONTEXT_LENGTH = 2**24
"""16M tokens: more than any released model states; a larger value is a broken config."""


def context_length_of(config: dict[str, Any]) -> int:
    """The context window a model config states (0 when it states none).

    Raises:
        ModelFormatError: the stated window is not a whole number of tokens, or is absurd.
    """
    sources = [config, config.get("text_config") or {}]
    for source in sources:
        for key in ("max_position_embeddings", "max_sequence_length", "n_positions", "seq_length"):
            value = source.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelFormatError(
                    f"config.json: {key} must be a positive whole number of tokens, got {value!r}",
                    path="config.json",
                )
            if value > MAX_CONTEXT_LENGTH:
                raise ModelFormatError(
                    f"config.json: {key} = {value} tokens is beyond any model "
                    f"(at most {MAX_CONTEXT_LENGTH}); the config is broken",
                    path="config.json",
                )
            return value
    return 0


def validate_model_dir(model_dir: Path) -> ModelSummary:
    """Check that ``model_dir`` is a complete MLX model directory and summarize it.

    Raises:
        ModelFormatError: a file is missing, unreadable or inconsistent with the config.
        UnsupportedModelError: the installed mlx-lm does not implement ``model_type``.
    """
    if not model_dir.is_dir():
        raise ModelFormatError(f"{str(model_dir)!r} is not a directory", path=str(model_dir))
    config = _read_json(model_dir / "config.json")
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ModelFormatError(
            f"{str(model_dir / 'config.json')!r} has no 'model_type'", path=str(model_dir)
        )
    supported = supported_model_types()
    if supported is not None and model_type not in supported:
        raise UnsupportedModelError(
            f"model_type {model_type!r} in {str(model_dir / 'config.json')!r} is not supported by the "
            "installed mlx-lm",
            path=str(model_dir / "config.json"),
        )
    tensors = read_index(model_dir)
    _check_layers(tensors, config, model_dir)
    _check_embedding(tensors, config, model_dir)
    if not ((model_dir / "tokenizer.json").is_file() or (model_dir / "tokenizer.model").is_file()):
        raise ModelFormatError(
            f"{str(model_dir)!r} has no tokenizer (tokenizer.json or tokenizer.model)",
            path=str(model_dir),
        )
    context = context_length_of(config)
    if context <= 0:
        raise ModelFormatError(
            f"{str(model_dir / 'config.json')!r} does not state a context length "
            "(max_position_embeddings)",
            path=str(model_dir / "config.json"),
        )
    quant = config.get("quantization")
    template = chat_template_of(model_dir)
    return ModelSummary(
        path=model_dir,
        architecture=model_type,
        context_length=context,
        parameters=_count_parameters(tensors, quant),
        quantization=_describe_quantization(quant, tensors),
        size_bytes=sum(f.stat().st_size for f in model_dir.iterdir() if f.is_file()),
        supports_tools=bool(template and "tools" in template),
        chat_template=template,
    )


def _describe_quantization(quant: dict[str, Any] | None, tensors: dict[str, TensorEntry]) -> str:
    if not quant:
        dtypes = Counter(e.dtype for e in tensors.values())
        return {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}.get(
            dtypes.most_common(1)[0][0], "dense"
        )
    extra = sorted({int(v["bits"]) for v in quant.values() if isinstance(v, dict) and "bits" in v})
    base = f"{quant.get('bits', 4)}-bit"
    return base + "".join(f" +{b}-bit" for b in extra if b != quant.get("bits"))
