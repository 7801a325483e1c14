"""A model's stored weights read on a thread of their own while the engine's imports run.

A start on the GPU machine spent 1.6 s importing mlx-lm and transformers and then about 0.8 s
copying the 3.9 GB of a 4-bit 7B model into MLX's memory (``benchmarks/startup_stages.py``).
Neither needs the other, and MLX lets go of the GIL while it evaluates, so the copy can run
during the imports. This module imports MLX alone (no mlx-lm), so the launcher starts it first;
``loading.load_model`` then puts the arrays read here in place of the lazy ones mlx-lm made.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import mlx.core as mx
import structlog

from pensieve_mlx.config import Precision
from pensieve_mlx.device import device_name, reading_device, target_precision

log = structlog.get_logger()


def weight_files(path: Path) -> list[Path]:
    """The files mlx-lm reads the weights from (its own pattern)."""
    return sorted(path.glob("model*.safetensors"))


def _as_stored(config: dict[str, object]) -> bool:
    """Whether mlx-lm uses the stored arrays unchanged but for the model's ``sanitize``.

    Quantized checkpoints from other tools (AWQ, GPTQ, ...) carry ``quantization_config`` alone,
    and mlx-lm rewrites their arrays while loading; those are left to it.
    """
    text = config.get("text_config")
    legacy = "quantization_config" in config or (
        isinstance(text, dict) and "quantization_config" in text
    )
    return "model_file" not in config and (config.get("quantization") is not None or not legacy)


class ReadAhead:
    """Reads ``path``'s weight files now, on a thread; ``take`` hands the arrays over once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._weights: dict[str, mx.array] | None = None
        self._thread = threading.Thread(target=self._read, name="pensieve-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        where = reading_device(device_name())
        try:
            weights: dict[str, mx.array] = {}
            for file in weight_files(self.path):
                arrays = mx.load(str(file), stream=where)
                if not isinstance(arrays, dict):
                    raise ValueError(f"{file} holds no named arrays")
                weights.update(arrays)
            mx.eval(list(weights.values()))
        except (OSError, ValueError, RuntimeError):  # mlx-lm's own read then says what is wrong
            log.warning("read_ahead_failed", path=str(self.path), exc_info=True)
            return
        self._weights = weights

    def wait(self) -> None:
        """Return once the read has ended."""
        self._thread.join()

    def take(self) -> dict[str, mx.array] | None:
        """The arrays by stored name, once read (None: the read failed or they were taken)."""
        self.wait()
        weights, self._weights = self._weights, None
        return weights


def read_ahead(path: Path, precision: Precision) -> ReadAhead | None:
    """Start reading ``path``'s weights where the engine holds them as stored, else None.

    Dequantized or cast weights (the CPU's float32) are made from the stored ones and read from
    the kept conversion instead, so nothing would use an early read there.
    """
    if target_precision(precision, device_name()) != "quantized" or not weight_files(path):
        return None
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ReadAhead(path) if isinstance(config, dict) and _as_stored(config) else None
