"""Re-quantize llama.cpp tensors into MLX's affine format, row chunk by row chunk, in numpy.

MLX stores ``w = scale * q + bias`` per group of ``GROUP_SIZE`` weights, the unsigned ``bits``-wide
codes packed as a little-endian bit stream in uint32 words. The ``gguf`` package dequantizes every
GGML type; this module turns its float values back into MLX codes at the width the type had:

* Types that are one affine grid per 32 weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, and the 32-weight
  sub-blocks of Q4_K and Q5_K) keep that grid: the scale and offset come from the block header, so
  the codes are the GGUF's own and only the float16 rounding of ``d * sc`` is lost.
* The others (Q2_K, Q3_K and Q6_K, whose sub-blocks have 16 weights; the non-linear IQ*, TQ* and
  MXFP4 grids) are re-quantized min-max per group of 32.

Written in numpy rather than with ``mx.quantize``: the loader must not import MLX (an
import-linter contract keeps it and the CLI light), and ``mx.quantize`` would not keep the GGUF's
grid (it re-fits each group, which roughly doubles the error of a Q4_K or Q5_0 tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import Q4_K, dequantize

GROUP_SIZE = 32
"""MLX's smallest group: the sub-block size of most GGML types, so their grids map one to one."""

BITS: dict[str, int] = {
    "Q4_0": 4,
    "Q4_1": 4,
    "Q5_0": 5,
    "Q5_1": 5,
    "Q8_0": 8,
    "Q2_K": 2,
    "Q3_K": 3,
    "Q4_K": 4,
    "Q5_K": 5,
    "Q6_K": 6,
    "IQ1_S": 2,
    "IQ1_M": 2,
    "IQ2_XXS": 2,
    "IQ2_XS": 2,
    "IQ2_S": 2,
    "IQ3_XXS": 3,
    "IQ3_S": 3,
    "IQ4_NL": 4,
    "IQ4_XS": 4,
    "TQ1_0": 2,
    "TQ2_0": 2,
    "MXFP4": 4,
}
"""The MLX width each quantized GGML type becomes (MLX has 2, 3, 4, 5, 6 and 8 bits)."""

_CHUNK_WEIGHTS = 1 << 22
"""Weights dequantized at a time (16 MiB of float32): memory stays bounded for any tensor."""


@dataclass(frozen=True, slots=True)
class AffineTensor:
    """One matrix in MLX affine layout."""

    weight: npt.NDArray[np.uint32]
    """Packed codes, shape ``(rows, cols * bits / 32)``."""
    scales: npt.NDArray[np.float16]
    """Shape ``(rows, cols / group_size)``."""
    biases: npt.NDArray[np.float16]
    bits: int
    group_size: int = GROUP_SIZE

    def dequantize(self) -> npt.NDArray[np.float32]:
        """The float32 matrix (what ``mx.dequantize`` computes; for tests)."""
        codes = unpack(self.weight, self.bits)
        rows, cols = codes.shape
        groups = codes.reshape(rows, cols // self.group_size, self.group_size).astype(np.float32)
        scales = self.scales.astype(np.float32)[..., None]
        biases = self.biases.astype(np.float32)[..., None]
        return (groups * scales + biases).reshape(rows, cols)


def pack(codes: npt.NDArray[np.uint8], bits: int) -> npt.NDArray[np.uint32]:
    """Pack codes (rows, cols) as MLX does: a little-endian bit stream of ``bits`` per code."""
    rows = codes.shape[0]
    stream = np.unpackbits(codes[..., None], axis=-1, bitorder="little")[..., :bits]
    packed = np.packbits(stream.reshape(rows, -1), axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view(np.uint32)


def unpack(packed: npt.NDArray[np.uint32], bits: int) -> npt.NDArray[np.uint8]:
    """Inverse of ``pack``."""
    rows = packed.shape[0]
    stream = np.unpackbits(packed.view(np.uint8), axis=-1, bitorder="little")
    codes = np.packbits(stream.reshape(rows, -1, bits), axis=-1, bitorder="little")
    return codes.reshape(rows, -1)


def _f16(blocks: npt.NDArray[np.uint8], offset: int) -> npt.NDArray[np.float32]:
    """The float16 field at ``offset`` of every block, as float32 (shape ``blocks[..., 0]``)."""
    return blocks[..., offset : offset + 2].copy().view(np.float16)[..., 0].astype(np.float32)


def _grid(
    kind: str, blocks: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None:
    """Scale and offset of each 32-weight group of raw blocks ``(rows, n_blocks, bytes)``.

    ``None`` for types that are not one affine grid per 32 weights.
    """
    if kind in ("Q4_0", "Q5_0", "Q8_0"):
        d = _f16(blocks, 0)
        return d, d * -{"Q4_0": 8, "Q5_0": 16, "Q8_0": 128}[kind]
    if kind in ("Q4_1", "Q5_1"):
        return _f16(blocks, 0), _f16(blocks, 2)
    if kind in ("Q4_K", "Q5_K"):
        rows, n_blocks, _ = blocks.shape
        # gguf's own unpacking of the eight 6-bit (scale, min) pairs of a super-block.
        sc, m = Q4_K.get_scale_min(blocks[..., 4:16].reshape(rows * n_blocks, 12))
        d = _f16(blocks, 0).reshape(-1, 1)
        dmin = _f16(blocks, 2).reshape(-1, 1)
        scale = (d * sc.astype(np.float32)).reshape(rows, -1)
        return scale, (-dmin * m.astype(np.float32)).reshape(rows, -1)
    return None


def _encode(
    values: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32] | None,
    bias: npt.NDArray[np.float32] | None,
    bits: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float16], npt.NDArray[np.float16]]:
    """Codes for ``values`` (rows, cols) on the given per-group grid, or a min-max one."""
    rows, cols = values.shape
    groups = values.reshape(rows, cols // GROUP_SIZE, GROUP_SIZE)
    top = (1 << bits) - 1
    if scale is None or bias is None:
        low = groups.min(axis=-1)
        scale = (groups.max(axis=-1) - low) / top
        bias = low
    scales = scale.reshape(rows, -1).astype(np.float16)
    biases = bias.reshape(rows, -1).astype(np.float16)
    # Codes are computed against the float16 scale and bias that will be stored.
    s = scales.astype(np.float32)[..., None]
    b = biases.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s == 0, 0, np.rint((groups - b) / s))
    codes = np.clip(q, 0, top).astype(np.uint8).reshape(rows, cols)
    return pack(codes, bits), scales, biases


def requantize(kind: str, blocks: npt.NDArray[np.uint8]) -> AffineTensor:
    """Raw GGUF rows (``rows x bytes_per_row``) of quantized type ``kind`` in MLX affine form.

    Raises:
        ValueError: ``kind`` has no MLX width here.
        NotImplementedError: the ``gguf`` package cannot dequantize ``kind``.
    """
    if kind not in BITS:
        raise ValueError(f"no MLX width for GGUF type {kind!r}")
    bits, qtype = BITS[kind], GGMLQuantizationType[kind]
    rows = blocks.shape[0]
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    cols = blocks.shape[1] // block_bytes * block_elems
    step = max(1, _CHUNK_WEIGHTS // cols)
    weights, scales, biases = [], [], []
    for start in range(0, rows, step):
        chunk = np.asarray(blocks[start : start + step])
        values = dequantize(chunk, qtype).reshape(chunk.shape[0], cols).astype(np.float32)
        scale, bias = _grid(kind, chunk.reshape(chunk.shape[0], -1, block_bytes)) or (None, None)
        w, s, b = _encode(values, scale, bias, bits)
        weights.append(w)
        scales.append(s)
        biases.append(b)
    return AffineTensor(
        np.concatenate(weights), np.concatenate(scales), np.concatenate(biases), bits
    )
