"""The single-sequence fast path: the batch generator's tokens, and a clean join of a second request."""

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pensieve_core import (
    Finished,
    GenerationRequest,
    Message,
    PromptProgress,
    SamplingParams,
    TextDelta,
    TextPart,
    ToolChoice,
    ToolSpec,
)
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_mlx.lookup import Pacing
from tests.mlx.conftest import ask, collect, running_engine

pytestmark = pytest.mark.anyio

WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(name="fast", scope="module")
def _fast(smol_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(smol_path)


@pytest.fixture(name="batched", scope="module")
def _batched(smol_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(smol_path, MLXEngineConfig(single_sequence_fast_path=False))


def _shape(events: Sequence[object]) -> list[object]:
    """The events but prefill progress (reported as often as the prefill is sliced)."""
    return [
        e if not isinstance(e, Finished) else e.reason
        for e in events
        if not isinstance(e, PromptProgress)
    ]


def _requests() -> list[GenerationRequest]:
    seeded = SamplingParams(max_tokens=24, temperature=0.9, seed=42)
    return [
        ask("Write a haiku about the sea.", max_tokens=24),
        ask("What is the capital of France?", max_tokens=40),  # ends on its stop token
        GenerationRequest(
            messages=(Message("user", (TextPart("Tell a story."),)),), sampling=seeded
        ),
        GenerationRequest(  # a forced call: grammar-constrained decoding
            messages=(Message("user", (TextPart("Weather in Oslo?"),)),),
            sampling=SamplingParams(max_tokens=40, temperature=0.0),
            tools=(WEATHER,),
            tool_choice=ToolChoice("any"),
        ),
        ask("Count: one two three", max_tokens=1),
    ]


async def test_the_fast_path_gives_the_batch_generators_tokens(
    fast: MLXEngine, batched: MLXEngine
) -> None:
    for request in _requests():
        ours = await collect(fast.start(request))
        theirs = await collect(batched.start(request))
        assert ours[0] == theirs[0]
        assert _shape(ours[2]) == _shape(theirs[2])
        assert ours[1].reason == theirs[1].reason
        assert ours[1].usage.completion_tokens == theirs[1].usage.completion_tokens


async def test_a_lone_stream_runs_on_the_fast_path(fast: MLXEngine) -> None:
    seen = []
    async with await fast.start(ask("Write a poem about autumn.", max_tokens=24)) as generation:
        async for event in generation.events():
            if isinstance(event, TextDelta):
                seen.append(fast._worker._solo is not None)
    assert seen
    assert all(seen[:-1]), seen


async def test_a_second_request_joins_without_disturbing_the_first(
    fast: MLXEngine, batched: MLXEngine
) -> None:
    first = ask("Write a long story about a dragon.", max_tokens=48)
    second = ask("Name three colors.", max_tokens=24)
    alone = [(await collect(batched.start(r)))[0] for r in (first, second)]

    async def first_then_second() -> tuple[str, str]:
        text = []
        joined: asyncio.Task[tuple[str, object, object]] | None = None
        async with await fast.start(first) as generation:
            async for event in generation.events():
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    if len(text) == 6:
                        assert fast._worker._solo is not None, "decoding alone until now"
                        joined = asyncio.create_task(collect(fast.start(second)))
        assert joined is not None
        return "".join(text), (await joined)[0]

    together = await first_then_second()
    assert list(together) == alone
    assert fast._worker._solo is None


QUOTED = """def area(width, height):
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
"""


@pytest.fixture(name="lookup", scope="module")
def _lookup(smol_path: Path) -> Iterator[MLXEngine]:
    yield from running_engine(smol_path, MLXEngineConfig(speculation="prompt-lookup"))


async def test_prompt_lookup_gives_the_models_own_greedy_tokens(
    lookup: MLXEngine, batched: MLXEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pacing backs off when a verify step measures slower than plain steps: on a busy 2-core
    # machine that is timing, not the drafts. Plain steps go unmeasured here, so how much is
    # drafted follows acceptance alone (test_pacing_backs_off_when_drafting_measures_slower).
    monkeypatch.setattr(Pacing, "plain", lambda self, tokens, seconds: None)
    # An edit: the answer quotes the file, so drafts from the prompt are mostly right.
    edit = ask(f"Repeat this code exactly, then stop:\n\n{QUOTED}", max_tokens=60)
    before = lookup._worker.accepted_draft_tokens
    ours = await collect(lookup.start(edit))
    theirs = await collect(batched.start(edit))
    assert ours[0] == theirs[0]
    assert "def perimeter" in ours[0]
    assert lookup._worker.accepted_draft_tokens - before > 10, "drafts were checked and kept"
    # Sampled, constrained and ordinary requests are decoded plainly, with the same tokens.
    for request in _requests():
        assert (await collect(lookup.start(request)))[0] == (await collect(batched.start(request)))[
            0
        ]


def test_pacing_backs_off_when_drafting_measures_slower() -> None:
    pacing = Pacing(max_tokens=8)
    assert [pacing.wanted() for _ in range(3)] == [0, 0, 0]  # plain steps first, to measure
    pacing.plain(1, 0.01)
    pacing.plain(1, 0.01)  # 100 tok/s plain
    assert pacing.wanted() == 4
    pacing.drafted(4, 4, 0.02)  # all kept, 250 tok/s: longer drafts
    assert pacing.wanted() == 8
    # Verify steps that keep nothing, at 10 tok/s: shorter drafts, and once their averaged rate
    # falls below the plain rate, a pause of 8 plain steps.
    lengths = []
    while (length := pacing.wanted()) and len(lengths) < 10:
        lengths.append(length)
        pacing.drafted(length, 0, 0.1)
    assert lengths == [8, 4, 2]
    assert [pacing.wanted() for _ in range(7)] == [0] * 7  # the first of the 8 was taken above
    assert pacing.wanted() == 1


@pytest.fixture(name="windowed", scope="module")
def _windowed(smol_path: Path) -> Iterator[MLXEngine]:
    # A wide window: the test is about what the window does, not about how short it can be.
    yield from running_engine(smol_path, MLXEngineConfig(arrival_window_s=0.2))


async def test_a_burst_that_wakes_an_idle_engine_is_prefilled_together(
    windowed: MLXEngine, batched: MLXEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = [f"Say one thing about {x}." for x in ("the sea", "a cat", "rain", "bread")]
    alone = [(await collect(batched.start(ask(p, max_tokens=8))))[0] for p in prompts]
    worker = windowed._worker
    handoffs: list[bool] = []
    original = worker._handoff

    def counted() -> None:  # the fast path's sequence moved into the batch: it started alone
        handoffs.append(True)
        original()

    monkeypatch.setattr(worker, "_handoff", counted)

    async def one(prompt: str, delay: float) -> str:
        await asyncio.sleep(delay)  # as a burst over separate connections arrives: staggered
        return (await collect(windowed.start(ask(prompt, max_tokens=8))))[0]

    together = await asyncio.gather(*(one(p, 0.02 * i) for i, p in enumerate(prompts)))
    assert list(together) == alone
    assert not handoffs, "the first of the burst was started alone"
