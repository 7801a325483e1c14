"""Where MLX runs here and how it holds weights there; MLX alone is imported (no mlx-lm)."""

from __future__ import annotations

import mlx.core as mx

from pensieve_mlx.config import Precision


def device_name() -> str:
    """``cpu``, ``metal`` or ``cuda``: where MLX runs by default."""
    if mx.default_device() == mx.cpu:
        return "cpu"
    return "metal" if mx.metal.is_available() else "cuda"


def target_precision(precision: Precision, device: str) -> str:
    """The precision ``auto`` picks: float32 on the CPU, the stored weights on Metal and CUDA."""
    if precision != "auto":
        return precision
    return "float32" if device == "cpu" else "quantized"


def reading_device(device: str) -> mx.Device:
    """Where the stored weights are read: on CUDA, by MLX's CPU stream.

    MLX reads a file on the stream its arrays are made for. On an H100 the 3.9 GB of a 4-bit 7B
    model took 2.8 s on the GPU stream (MLX's default) and 1.0 s on the CPU stream, into the same
    unified memory; the pages then move to the GPU on first use, which the engine's warm-up pays
    (+0.3 s), and decoding is as fast either way (``benchmarks/weights_read.py``).
    """
    return mx.Device(mx.cpu) if device == "cuda" else mx.default_device()
