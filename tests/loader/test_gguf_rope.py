"""Config values a GGUF only implies: Llama 3.1's RoPE scaling from its ``rope_freqs`` factors,
Gemma 3's sliding-window period from per-layer flags."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pensieve_core import UnsupportedModelError
from pensieve_loader.gguf_archs import (
    Metadata,
    _swa_period,
    llama3_factors,
    llama3_rope_scaling,
)
from tests.gguf_archs import llama3_rope_factors


@pytest.mark.parametrize(
    ("head_dim", "base", "factor", "low", "high", "old"),
    [
        (128, 500000.0, 8.0, 1.0, 4.0, 8192),  # Llama 3.1 (six smoothed frequencies)
        (64, 500000.0, 32.0, 1.0, 4.0, 8192),  # Llama 3.2 1B/3B
        (32, 500000.0, 8.0, 1.0, 4.0, 8192),  # one smoothed frequency
        (16, 500000.0, 8.0, 1.0, 4.0, 8192),
        (8, 500000.0, 8.0, 1.0, 1.5, 8192),  # none
        (64, 10000.0, 4.0, 2.0, 8.0, 4096),
    ],
)
def test_llama3_rope_scaling_is_recovered_from_its_factors(
    head_dim: int, base: float, factor: float, low: float, high: float, old: int
) -> None:
    scaling = {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": low,
        "high_freq_factor": high,
        "original_max_position_embeddings": old,
    }
    config: dict[str, Any] = {
        "hidden_size": head_dim,
        "num_attention_heads": 1,
        "rope_theta": base,
        "rope_scaling": scaling,
    }
    factors = llama3_rope_factors(config).astype(np.float64)  # as llama.cpp writes them
    recovered = llama3_rope_scaling(factors, base=base, original=None)
    assert recovered is not None
    assert recovered["rope_type"] == "llama3"
    assert recovered["factor"] == pytest.approx(factor)
    wavelens = 2 * math.pi * base ** (np.arange(0, head_dim, 2) / head_dim)
    # What mlx-lm's Llama3RoPE computes from the recovered config is what llama.cpp wrote.
    np.testing.assert_allclose(llama3_factors(recovered, wavelens), factors, rtol=1e-5)


def test_other_factors_are_not_llama3() -> None:
    assert llama3_rope_scaling(np.ones(32), base=500000.0, original=None) is None
    wobbly = np.random.default_rng(0).uniform(1.0, 8.0, 32)
    assert llama3_rope_scaling(wobbly, base=500000.0, original=None) is None


class _Refusing(Metadata):
    def __init__(self) -> None:
        self.arch, self.path = "gemma3", str(Path("x.gguf"))


@pytest.mark.parametrize(
    ("pattern", "period"),
    [(6, 6), ([True] * 5 + [False], 6), ([True, False] * 3, 2), ([False] * 4, 1)],
)
def test_sliding_window_pattern(pattern: Any, period: int) -> None:
    assert _swa_period(_Refusing(), pattern) == period


def test_a_sliding_window_pattern_without_a_period_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="do not repeat"):
        _swa_period(_Refusing(), [True, False, False, True])
