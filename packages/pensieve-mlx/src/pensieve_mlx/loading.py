"""Load an MLX model directory with mlx-lm and apply the per-device precision policy."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import structlog
from mlx.utils import tree_flatten, tree_map
from mlx_lm.models.switch_layers import QuantizedSwitchLinear
from mlx_lm.utils import dequantize_model
from mlx_lm.utils import load_model as mlx_lm_load_model

from pensieve_core import ModelLoadError
from pensieve_mlx.config import MLXEngineConfig, Precision
from pensieve_mlx.device import device_name, reading_device, target_precision
from pensieve_mlx.kept_tokenizer import load_kept_tokenizer
from pensieve_mlx.read_ahead import ReadAhead

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Caches:
    """Where a load keeps what it derives from a model's files for later starts (None: not kept)."""

    weights: Path | None = None
    """Quantized weights converted for this device (``weights-cache-dir``)."""
    tokenizers: Path | None = None
    """Tokenizers as mlx-lm builds them (``kept_tokenizer.py``, ``tokenizer-cache-dir``)."""

    @classmethod
    def of(cls, config: MLXEngineConfig) -> Caches:
        """The directories ``config`` names (an empty one keeps nothing)."""
        return cls(
            Path(config.weights_cache_dir) if config.weights_cache_dir else None,
            Path(config.tokenizer_cache_dir) if config.tokenizer_cache_dir else None,
        )


@dataclass(slots=True)
class LoadedModel:
    """A model ready to run, and how it is held."""

    model: nn.Module
    tokenizer: Any
    device: str
    precision: str
    load_time_s: float
    tokenizer_time_s: float = 0.0
    """Of ``load_time_s``, the tokenizer's (built by mlx-lm, or read back where kept)."""


def _reading_stream(device: str) -> contextlib.AbstractContextManager[Any]:
    """MLX's default stream for the stored weights' reads (``device.reading_device``)."""
    where = reading_device(device)
    return mx.stream(where) if where != mx.default_device() else contextlib.nullcontext()


def _cast(model: nn.Module, dtype: mx.Dtype) -> None:
    def cast(a: mx.array) -> mx.array:
        return a.astype(dtype) if mx.issubdtype(a.dtype, mx.floating) else a

    model.update(tree_map(cast, model.parameters()))


def _is_quantized(model: nn.Module) -> bool:
    quantized = (nn.QuantizedLinear, nn.QuantizedEmbedding, QuantizedSwitchLinear)  # experts too
    return any(isinstance(m, quantized) for _, m in model.named_modules())


def describe_precision(stored: str, precision: Precision = "auto") -> str:
    """How weights stored as ``stored`` (e.g. ``4-bit +8-bit``) are held on this machine."""
    device = device_name()
    wanted = target_precision(precision, device)
    quantized = "bit" in stored
    if wanted == "quantized":
        return f"{stored} as stored, on {device}"
    why = " (MLX's quantized kernels are slow on the CPU)" if device == "cpu" and quantized else ""
    return f"{wanted}{' dequantized from ' + stored if quantized else ''}, on {device}{why}"


def _converted(weights_cache: Path, path: Path, wanted: str) -> Path:
    """Where the dequantized copy of ``path``'s weights is kept (named by what it depends on)."""
    digest = hashlib.sha256(f"{path.resolve()}:{wanted}".encode())
    for name in ("config.json", *sorted(p.name for p in path.glob("*.safetensors"))):
        stat = (path / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return weights_cache / f"{digest.hexdigest()[:24]}.safetensors"


def _keep(model: nn.Module, target: Path) -> None:
    """Write ``model``'s weights to ``target`` atomically; a full disk only costs the speed-up."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial.safetensors")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mx.save_safetensors(str(partial), dict(tree_flatten(model.parameters())))
        partial.replace(target)
    except OSError:
        partial.unlink(missing_ok=True)
        log.warning("converted_weights_not_kept", exc_info=True, path=str(target))


def _adopt(model: nn.Module, read: ReadAhead) -> bool:
    """Put the arrays ``read`` ahead in place of the lazy ones mlx-lm made; whether it did.

    The same steps as mlx-lm's ``load_model`` (the model's ``sanitize``, then a strict
    ``load_weights``, which checks every name and shape before it changes anything), so the
    model ends up as mlx-lm would have filled it; on a mismatch its lazy arrays stay.
    """
    weights = read.take()
    if weights is None:
        return False
    if hasattr(model, "sanitize"):
        weights = model.sanitize(weights)
    try:
        model.load_weights(list(weights.items()), strict=True)
    except ValueError:
        log.warning("read_ahead_not_used", path=str(read.path), exc_info=True)
        return False
    return True


Shard = Callable[[nn.Module], str]
"""Keeps one rank's share of a model (``distributed.shard_model``); says which split it made."""


def _hold(
    model: nn.Module,
    path: Path,
    wanted: str,
    quantized: bool,
    weights_cache: Path | None,
    shard: Shard | None,
) -> tuple[nn.Module, str]:
    """The model with its weights evaluated as ``wanted``, and how they are held."""
    if wanted == "quantized":
        held = "quantized (as stored)" if quantized else "as stored"
    else:
        if quantized:
            model = dequantize_model(model)
        kept = _converted(weights_cache, path, wanted) if weights_cache and quantized else None
        if kept is not None and kept.is_file():
            model.load_weights(str(kept))
        else:
            dtype = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
            _cast(model, dtype[wanted])
            mx.eval(model.parameters())
            if kept is not None:
                _keep(model, kept)
        held = f"{wanted} (dequantized)" if quantized else wanted
    if shard is not None:  # before the weights are read: a rank holds only its share
        held = f"{held}, {shard(model)} parallel"
    mx.eval(model.parameters())
    return model, held


def load_model(
    path: Path,
    precision: Precision = "auto",
    *,
    caches: Caches = Caches(),
    shard: Shard | None = None,
    read: ReadAhead | None = None,
) -> LoadedModel:
    """Load ``path`` and hold its weights as ``precision`` demands.

    ``caches``: where quantized weights dequantized for this device (the CPU's float32) are kept,
    so a later start reads them instead of converting again (SmolLM2 on 2 cores: 2.4 s of
    dequantizing against 0.3 s of reading), and where the tokenizer is kept. ``read``: the stored
    weights, read ahead while the engine was imported (``read_ahead.py``); used where they are
    held as stored.

    Raises:
        ModelLoadError: mlx-lm could not build or fill the model.
    """
    started = time.perf_counter()
    device = device_name()
    try:
        # Lazy: the stored weights are read only where they are used as stored.
        with _reading_stream(device):
            model, config = mlx_lm_load_model(path, lazy=True)
        # What mlx-lm's ``load`` does after ``load_model``, kept across starts.
        tokenizing = time.perf_counter()
        tokenizer = load_kept_tokenizer(path, config.get("eos_token_id"), caches.tokenizers)
        tokenizer_s = time.perf_counter() - tokenizing
    except (ValueError, KeyError, OSError, FileNotFoundError) as e:
        raise ModelLoadError(f"mlx-lm could not load {str(path)!r}: {e}") from e
    wanted = target_precision(precision, device)
    quantized = _is_quantized(model)
    if read is not None and not (wanted == "quantized" and shard is None and _adopt(model, read)):
        read.take()  # not used: its arrays go now
    try:
        model, held = _hold(model, path, wanted, quantized, caches.weights, shard)
    except (ValueError, RuntimeError) as e:  # weights that cannot be read
        raise ModelLoadError(f"mlx-lm could not load {str(path)!r}: {e}") from e
    elapsed = time.perf_counter() - started
    log.info(
        "model_loaded",
        path=str(path),
        device=device,
        precision=held,
        seconds=round(elapsed, 2),
        tokenizer_seconds=round(tokenizer_s, 2),
    )
    return LoadedModel(model, tokenizer, device, held, elapsed, tokenizer_s)
