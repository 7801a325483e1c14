"""Continuous batching: concurrent greedy outputs equal one-at-a-time outputs."""

import asyncio
from pathlib import Path

import pytest
from mlx_lm.generate import BatchGenerator

from pensieve_mlx import MLXEngine, MLXEngineConfig
from tests.mlx.conftest import ask, collect, running_engine

pytestmark = pytest.mark.anyio

PROMPTS = [
    "What is the capital of France?",
    "Name three colors.",
    "Write a haiku about the sea.",
    "What is 12 times 12?",
    "Say hello in Spanish.",
    "Who wrote Hamlet?",
    "List two fruits.",
    "What is water made of?",
]


async def test_tiny_model_batch_equals_sequential(tiny_engine: MLXEngine) -> None:
    sequential = [(await collect(tiny_engine.start(ask(p, max_tokens=24))))[0] for p in PROMPTS]
    concurrent = await asyncio.gather(
        *[collect(tiny_engine.start(ask(p, max_tokens=24))) for p in PROMPTS]
    )
    assert [c[0] for c in concurrent] == sequential
    assert all(c[1].usage.completion_tokens > 0 for c in concurrent)


async def test_smollm_batch_equals_sequential(smol_engine: MLXEngine) -> None:
    prompts = PROMPTS[:2]
    sequential = [(await collect(smol_engine.start(ask(p, max_tokens=12))))[0] for p in prompts]
    concurrent = await asyncio.gather(
        *[collect(smol_engine.start(ask(p, max_tokens=12))) for p in prompts]
    )
    assert [c[0] for c in concurrent] == sequential
    assert "Paris" in sequential[0]


async def test_max_tokens_gives_length(smol_engine: MLXEngine) -> None:
    _, finished, _ = await collect(
        smol_engine.start(ask("Tell me a long story about dragons.", max_tokens=5))
    )
    assert finished.reason == "length"
    assert finished.usage.completion_tokens == 5


async def test_eos_gives_stop_and_usage(smol_engine: MLXEngine) -> None:
    request = ask("What is the capital of France?", max_tokens=40)
    text, finished, _ = await collect(smol_engine.start(request))
    assert finished.reason == "stop"
    assert "<|im_end|>" not in text
    assert finished.usage.prompt_tokens == await smol_engine.count_tokens(request)
    assert finished.timings.ttft_s > 0
    assert finished.timings.peak_memory_bytes > 0


BURST = [f"{p} (burst {i})" for i, p in enumerate(PROMPTS + PROMPTS[:4])]


@pytest.mark.parametrize(("budget", "most"), [(4096, len(BURST)), (1, 2)])
async def test_a_burst_is_prefilled_as_its_tokens_allow_with_the_same_output(
    tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int, most: int
) -> None:
    # A spy on the batch generator: how many new prompts each prefill pass took.
    taken: list[int] = []
    make_batch = BatchGenerator._make_batch

    def spy(self: BatchGenerator, n: int) -> object:
        taken.append(n)
        return make_batch(self, n)

    monkeypatch.setattr(BatchGenerator, "_make_batch", spy)
    config = MLXEngineConfig(
        max_active_sequences=16,
        prefill_batch_size=2,
        prefill_batch_tokens=budget,
        arrival_window_s=0.5,  # the whole burst is queued before the first pass
    )
    for engine in running_engine(tiny_model_path, config):
        sequential = [(await collect(engine.start(ask(p, max_tokens=12))))[0] for p in BURST]
        taken.clear()
        burst = await asyncio.gather(*[collect(engine.start(ask(p, max_tokens=12))) for p in BURST])
    assert [b[0] for b in burst] == sequential
    assert max(taken) == most
    assert sum(taken) == len(BURST)
