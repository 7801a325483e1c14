"""The GPU warm-up's traffic, run on the CPU (where the engine itself skips it)."""

import asyncio
import os
import threading
from pathlib import Path

import mlx.core as mx
import pytest

from pensieve_loader import validate_model_dir
from pensieve_mlx import MLXEngine, MLXEngineConfig, ServedModel
from pensieve_mlx import engine as engine_module
from pensieve_mlx.loading import load_model
from pensieve_mlx.warmup import CUDNN_ATTENTION, exercise, prefer_own_attention, warm_up
from tests.mlx.conftest import ask, collect


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


def _engine_to_warm(path: Path) -> MLXEngine:
    """An engine on ``path`` that runs its warm-up (as on a GPU: the CPU has nothing to warm)."""
    loaded = load_model(path)
    loaded.device = "gpu"
    summary = validate_model_dir(path)
    served = ServedModel("tiny", path, summary.context_length, summary.supports_tools)
    return MLXEngine(loaded, served=served, config=MLXEngineConfig())


@pytest.mark.anyio
async def test_the_warm_up_runs_on_the_worker_while_the_engine_serves(
    tiny_model_path: Path, tiny_engine: MLXEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is up before its warm-up ends; a request sent meanwhile waits, then runs."""
    alone = await collect(tiny_engine.start(ask("Hello there", max_tokens=8)))
    release, running, threads = threading.Event(), threading.Event(), []

    def held_warm_up(*_: object) -> None:
        threads.append(threading.current_thread().name)
        running.set()
        release.wait(30)

    monkeypatch.setattr(engine_module, "warm_up", held_warm_up)
    engine = _engine_to_warm(tiny_model_path)
    try:
        assert running.wait(10)
        assert engine.stats().warming_up
        request = asyncio.ensure_future(collect(engine.start(ask("Hello there", max_tokens=8))))
        await asyncio.sleep(0.5)
        assert not request.done()  # queued behind the warm-up
        assert engine.stats().queued_requests == 1
        release.set()
        text, finished, _ = await asyncio.wait_for(request, 30)
        assert (text, finished.reason) == (alone[0], alone[1].reason)
        assert not engine.stats().warming_up
        assert threads == ["pensieve-mlx-worker"]
    finally:
        release.set()
        engine._worker.stop()


def test_a_failed_warm_up_leaves_the_engine_serving(
    tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_warm_up(*_: object) -> None:
        raise RuntimeError("out of memory on purpose")

    monkeypatch.setattr(engine_module, "warm_up", failing_warm_up)
    engine = _engine_to_warm(tiny_model_path)
    try:
        _, finished, _ = asyncio.run(collect(engine.start(ask("Hello there", max_tokens=4))))
        assert finished.usage.completion_tokens > 0
        assert not engine.stats().warming_up
    finally:
        engine._worker.stop()
