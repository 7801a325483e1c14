"""The GPU warm-up's traffic, run on the CPU (where the engine itself skips it)."""

import os
from pathlib import Path

import mlx.core as mx
import pytest

from pensieve_mlx import MLXEngineConfig
from pensieve_mlx.loading import load_model
from pensieve_mlx.warmup import CUDNN_ATTENTION, exercise, prefer_own_attention, warm_up


@pytest.mark.parametrize(
    "config",
    [
        MLXEngineConfig(),
        MLXEngineConfig(kv_bits=8),
        MLXEngineConfig(max_active_sequences=1, prefill_step_size=16),
    ],
    ids=["defaults", "kv-bits-8", "one-sequence-short-chunks"],
)
def test_the_warm_up_traffic_runs_on_any_config(
    tiny_model_path: Path, config: MLXEngineConfig
) -> None:
    loaded = load_model(tiny_model_path)
    exercise(loaded.model, config, vocab_size=loaded.model.args.vocab_size)
    assert mx.get_peak_memory() < 2**30  # reset afterwards, and the prompts are small


def test_the_cpu_is_not_warmed_up_and_keeps_its_attention(tiny_model_path: Path) -> None:
    if mx.default_device() != mx.cpu or mx.cuda.is_available():
        pytest.skip("checks a CPU-only MLX")
    before = os.environ.get(CUDNN_ATTENTION)
    loaded = load_model(tiny_model_path)
    assert warm_up(loaded.model, MLXEngineConfig(), loaded.model.args.vocab_size) is None
    assert prefer_own_attention() is False
    assert os.environ.get(CUDNN_ATTENTION) == before
