"""The GPU warm-up's traffic, run on the CPU (where the engine itself skips it)."""

import asyncio
import os
import threading
import time
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
    mx.reset_peak_memory()
    assert exercise(loaded.model, config, vocab_size=loaded.model.args.vocab_size)
    assert mx.get_peak_memory() < 2**30  # the prompts are small


@pytest.mark.parametrize("steps", [0, 1, 3, 6])
def test_the_warm_up_traffic_gives_way_when_interrupted(tiny_model_path: Path, steps: int) -> None:
    """Asked before every step: it stops at the first yes, and a later run still completes."""
    loaded = load_model(tiny_model_path)
    vocab = loaded.model.args.vocab_size
    mx.reset_peak_memory()
    asked = 0

    def interrupted() -> bool:
        nonlocal asked
        asked += 1
        return asked > steps

    assert not exercise(loaded.model, MLXEngineConfig(), vocab, interrupted)
    assert asked == steps + 1, "stopped at the first yes"
    assert exercise(loaded.model, MLXEngineConfig(), vocab, lambda: False)
    assert mx.get_peak_memory() < 2**30


def test_the_cpu_is_not_warmed_up_and_keeps_its_attention(tiny_model_path: Path) -> None:
    if mx.default_device() != mx.cpu or mx.cuda.is_available():
        pytest.skip("checks a CPU-only MLX")
    before = os.environ.get(CUDNN_ATTENTION)
    loaded = load_model(tiny_model_path)
    assert warm_up(loaded.model, MLXEngineConfig(), loaded.model.args.vocab_size) is True
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
async def test_the_warm_up_gives_way_to_a_request_and_completes_when_idle(
    tiny_model_path: Path, tiny_engine: MLXEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is up before its warm-up ends; a request sent meanwhile stops it and runs at
    once, and the warm-up runs again on the worker once it is idle."""
    alone = await collect(tiny_engine.start(ask("Hello there", max_tokens=8)))
    runs: list[str] = []
    held, release = threading.Event(), threading.Event()

    def holding_warm_up(*args: object) -> bool:
        interrupted = args[-1]
        assert callable(interrupted)
        runs.append(threading.current_thread().name)
        if len(runs) > 1:  # the second run, on an idle worker: held until released
            held.set()
            return release.wait(30)
        while not interrupted():  # a long first run, until a request arrives
            time.sleep(0.01)
        return False

    monkeypatch.setattr(engine_module, "warm_up", holding_warm_up)
    engine = _engine_to_warm(tiny_model_path)
    try:
        await asyncio.sleep(0.3)
        assert engine.stats().warming_up
        assert runs == ["pensieve-mlx-worker"]
        text, finished, _ = await asyncio.wait_for(
            collect(engine.start(ask("Hello there", max_tokens=8))), 30
        )
        assert (text, finished.reason) == (alone[0], alone[1].reason)
        peak = mx.get_peak_memory()
        assert await asyncio.to_thread(held.wait, 10), "it runs again once the worker is idle"
        assert engine.stats().warming_up
        release.set()
        for _ in range(100):
            if not engine.stats().warming_up:
                break
            await asyncio.sleep(0.05)
        assert not engine.stats().warming_up
        assert mx.get_peak_memory() >= peak, "the traffic's peak is kept"
        assert runs == ["pensieve-mlx-worker"] * 2, "and not again once it completed"
        await collect(engine.start(ask("Hello again", max_tokens=2)))
        assert len(runs) == 2
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
