"""Every GGML type re-quantizes to MLX affine form within its re-quantization error.

The reference is the ``gguf`` package's own dequantization; the check reads the result back with
``mx.dequantize``, so it also proves the bit packing is MLX's.
"""

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize

from pensieve_loader.gguf_quant import BITS, GROUP_SIZE, pack, requantize, unpack
from tests.ggufs import random_blocks

mx = pytest.importorskip("mlx.core")

# Types whose 32-weight groups are one affine grid: the GGUF's codes are kept.
GRID = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K")


def _blocks(kind: str, rows: int = 6, cols: int = 512) -> np.ndarray:
    qtype = GGMLQuantizationType[kind]
    try:
        w = np.random.default_rng(1).standard_normal((rows, cols)).astype(np.float32)
        return quantize(w, qtype)
    except NotImplementedError:
        return random_blocks(qtype, rows, cols, seed=2)


def _mlx_values(kind: str, blocks: np.ndarray) -> tuple[np.ndarray, int]:
    t = requantize(kind, blocks)
    assert t.weight.dtype == np.uint32
    assert t.scales.dtype == np.float16
    # float32 scales: MLX then computes in float32, as the engine does on the CPU.
    back = mx.dequantize(
        mx.array(t.weight),
        mx.array(t.scales.astype(np.float32)),
        mx.array(t.biases.astype(np.float32)),
        group_size=GROUP_SIZE,
        bits=t.bits,
    )
    got = np.array(back)
    np.testing.assert_allclose(got, t.dequantize(), rtol=1e-6, atol=1e-7)
    return got, t.bits


@pytest.mark.parametrize("kind", sorted(BITS))
def test_requantized_matches_gguf_dequantize(kind: str) -> None:
    blocks = _blocks(kind)
    expected = dequantize(blocks, GGMLQuantizationType[kind])
    got, bits = _mlx_values(kind, blocks)
    assert bits == BITS[kind]
    assert np.isfinite(expected).all()
    assert np.abs(expected).max() > 0
    groups = expected.reshape(expected.shape[0], -1, GROUP_SIZE)
    spread = (groups.max(-1) - groups.min(-1))[..., None]
    error = np.abs(got - expected).reshape(groups.shape)
    if kind in GRID:
        # Only float16 rounding of the scale, the offset and MLX's float16 output is lost.
        assert (error <= 2e-3 * np.abs(groups).max(-1, keepdims=True) + 1e-7).all()
    else:
        # Min-max re-quantization: at most half a step of the group's grid (plus float16).
        step = spread / ((1 << bits) - 1)
        assert (error <= 0.5 * step + 2e-3 * spread + 1e-7).all()
        assert error.mean() > 0  # (the bound is not vacuous: these types do change)


def test_grid_types_keep_the_gguf_codes() -> None:
    """Q4_K re-fit min-max would lose about 8% (RMS); keeping the grid loses float16 rounding."""
    blocks = _blocks("Q4_K")
    expected = dequantize(blocks, GGMLQuantizationType.Q4_K)
    got, _ = _mlx_values("Q4_K", blocks)
    rms = np.sqrt(np.mean(expected**2))
    assert np.sqrt(np.mean((got - expected) ** 2)) < 2e-3 * rms


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="Q8_K"):
        requantize("Q8_K", np.zeros((1, 292), np.uint8))


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
def test_pack_roundtrip(bits: int) -> None:
    codes = np.random.default_rng(2).integers(0, 2**bits, size=(3, 64)).astype(np.uint8)
    assert np.array_equal(unpack(pack(codes, bits), bits), codes)
