"""Repack llama.cpp quantized blocks into MLX affine quantization, losslessly, in numpy.

Q4_0, Q4_1 and Q8_0 store groups of 32 weights with one float16 scale (and, for Q4_1, a float16
minimum). MLX's affine format stores ``w = scale * q + bias`` per group of ``group_size`` with the
unsigned codes packed little-endian into uint32 words, so every one of these maps exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GROUP_SIZE = 32
"""The block size of Q4_0/Q4_1/Q8_0, and so the MLX group size of repacked tensors."""

# Bytes per 32-weight block.
_BLOCK_BYTES = {"Q4_0": 18, "Q4_1": 20, "Q8_0": 34}

REPACKABLE = frozenset(_BLOCK_BYTES)


@dataclass(frozen=True, slots=True)
class AffineTensor:
    """One matrix in MLX affine layout."""

    weight: npt.NDArray[np.uint32]
    """Packed codes, shape ``(rows, cols * bits / 32)``."""
    scales: npt.NDArray[np.float16]
    """Shape ``(rows, cols / group_size)``."""
    biases: npt.NDArray[np.float16]
    bits: int

    def dequantize(self) -> npt.NDArray[np.float32]:
        """The float32 matrix (for tests and for re-quantizing)."""
        codes = unpack(self.weight, self.bits)
        rows, cols = codes.shape
        groups = codes.reshape(rows, cols // GROUP_SIZE, GROUP_SIZE).astype(np.float32)
        scales = self.scales.astype(np.float32)[..., None]
        biases = self.biases.astype(np.float32)[..., None]
        return (groups * scales + biases).reshape(rows, cols)


def pack(codes: npt.NDArray[np.uint8], bits: int) -> npt.NDArray[np.uint32]:
    """Pack unsigned codes (rows, cols) into uint32 words, first code in the lowest bits."""
    per_word = 32 // bits
    rows, cols = codes.shape
    words = codes.reshape(rows, cols // per_word, per_word).astype(np.uint32)
    shifts = (np.arange(per_word, dtype=np.uint32) * bits)[None, None, :]
    packed: npt.NDArray[np.uint32] = np.bitwise_or.reduce(words << shifts, axis=2)
    return packed


def unpack(packed: npt.NDArray[np.uint32], bits: int) -> npt.NDArray[np.uint8]:
    """Inverse of ``pack``."""
    per_word = 32 // bits
    shifts = (np.arange(per_word, dtype=np.uint32) * bits)[None, None, :]
    mask = np.uint32((1 << bits) - 1)
    codes = (packed[:, :, None] >> shifts) & mask
    return codes.reshape(packed.shape[0], -1).astype(np.uint8)


def repack(kind: str, blocks: npt.NDArray[np.uint8]) -> AffineTensor:
    """Repack raw GGUF rows (``rows x bytes_per_row``) of type ``kind`` into MLX affine form."""
    if kind not in _BLOCK_BYTES:
        raise ValueError(f"cannot repack GGUF type {kind!r}")
    rows = blocks.shape[0]
    b = blocks.reshape(rows, -1, _BLOCK_BYTES[kind])
    d = b[..., 0:2].copy().view(np.float16)[..., 0]
    if kind == "Q8_0":
        signed = b[..., 2:34].copy().view(np.int8).astype(np.int16)
        codes = (signed + 128).astype(np.uint8).reshape(rows, -1)
        # q_signed * d == (q_signed + 128) * d - 128 * d; 128 * d is exact in float16.
        return AffineTensor(pack(codes, 8), d, (d * np.float16(-128)).astype(np.float16), 8)
    offset = 4 if kind == "Q4_1" else 2
    qs = b[..., offset : offset + 16]
    # Within a block, byte j holds weight j in its low nibble and weight j + 16 in its high one.
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(rows, -1)
    if kind == "Q4_1":
        m = b[..., 2:4].copy().view(np.float16)[..., 0]
        return AffineTensor(pack(codes, 4), d, m, 4)
    return AffineTensor(pack(codes, 4), d, (d * np.float16(-8)).astype(np.float16), 4)
