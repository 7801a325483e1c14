"""Repacked Q4_0/Q4_1/Q8_0 blocks dequantize exactly as llama.cpp's own reference does."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize

from pensieve_loader.gguf_quant import pack, repack, unpack


@pytest.mark.parametrize("kind", ["Q4_0", "Q4_1", "Q8_0"])
def test_repack_matches_gguf_dequantize(kind: str) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 96)).astype(np.float32)
    qtype = GGMLQuantizationType[kind]
    blocks = quantize(w, qtype)
    expected = dequantize(blocks, qtype)
    got = repack(kind, blocks).dequantize()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3 * np.abs(expected).max())


@pytest.mark.parametrize("bits", [4, 8])
def test_pack_roundtrip(bits: int) -> None:
    codes = np.random.default_rng(2).integers(0, 2**bits, size=(3, 64)).astype(np.uint8)
    assert np.array_equal(unpack(pack(codes, bits), bits), codes)


def test_repack_matches_mlx_layout() -> None:
    mx = pytest.importorskip("mlx.core")
    w = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    blocks = quantize(w, GGMLQuantizationType.Q4_1)
    t = repack("Q4_1", blocks)
    ours = mx.dequantize(
        mx.array(t.weight), mx.array(t.scales), mx.array(t.biases), group_size=32, bits=4
    )
    # MLX returns float16 here (the scales dtype): compare at float16 precision.
    np.testing.assert_allclose(
        np.array(ours), dequantize(blocks, GGMLQuantizationType.Q4_1), atol=5e-3
    )
