"""Load an MLX model directory with mlx-lm and apply the per-device precision policy."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import structlog
from mlx.utils import tree_map
from mlx_lm import load as mlx_lm_load
from mlx_lm.models.switch_layers import QuantizedSwitchLinear
from mlx_lm.utils import dequantize_model

from pensieve_core import ModelLoadError
from pensieve_mlx.config import Precision

log = structlog.get_logger()


@dataclass(slots=True)
class LoadedModel:
    """A model ready to run, and how it is held."""

    model: nn.Module
    tokenizer: Any
    device: str
    precision: str
    load_time_s: float


def device_name() -> str:
    """``cpu``, ``metal`` or ``cuda``: where MLX runs by default."""
    if mx.default_device() == mx.cpu:
        return "cpu"
    return "metal" if mx.metal.is_available() else "cuda"


def _cast(model: nn.Module, dtype: mx.Dtype) -> None:
    def cast(a: mx.array) -> mx.array:
        return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a

    model.update(tree_map(cast, model.parameters()))


def _is_quantized(model: nn.Module) -> bool:
    quantized = (nn.QuantizedLinear, nn.QuantizedEmbedding, QuantizedSwitchLinear)  # experts too
    return any(isinstance(m, quantized) for _, m in model.named_modules())


def target_precision(precision: Precision, device: str) -> str:
    """The precision ``auto`` picks: float32 on the CPU, the stored weights on Metal and CUDA."""
    if precision != "auto":
        return precision
    return "float32" if device == "cpu" else "quantized"


def describe_precision(stored: str, precision: Precision = "auto") -> str:
    """How weights stored as ``stored`` (e.g. ``4-bit +8-bit``) are held on this machine."""
    device = device_name()
    wanted = target_precision(precision, device)
    quantized = "bit" in stored
    if wanted == "quantized":
        return f"{stored} as stored, on {device}"
    why = " (MLX's quantized kernels are slow on the CPU)" if device == "cpu" and quantized else ""
    return f"{wanted}{' dequantized from ' + stored if quantized else ''}, on {device}{why}"


def load_model(path: Path, precision: Precision = "auto") -> LoadedModel:
    """Load ``path`` and hold its weights as ``precision`` demands.

    Raises:
        ModelLoadError: mlx-lm could not build or fill the model.
    """
    started = time.perf_counter()
    try:
        model, tokenizer = mlx_lm_load(str(path))[:2]
    except (ValueError, KeyError, OSError, FileNotFoundError) as e:
        raise ModelLoadError(f"mlx-lm could not load {str(path)!r}: {e}") from e
    device = device_name()
    wanted = target_precision(precision, device)
    quantized = _is_quantized(model)
    if wanted == "quantized":
        held = "quantized (as stored)" if quantized else "as stored"
    else:
        if quantized:
            model = dequantize_model(model)
        _cast(
            model, {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}[wanted]
        )
        held = f"{wanted} (dequantized)" if quantized else wanted
    mx.eval(model.parameters())
    elapsed = time.perf_counter() - started
    log.info(
        "model_loaded", path=str(path), device=device, precision=held, seconds=round(elapsed, 2)
    )
    return LoadedModel(model, tokenizer, device, held, elapsed)
