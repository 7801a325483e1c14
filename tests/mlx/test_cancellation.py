"""Cancelling a stream frees its slot; the others in the batch are unaffected."""

import asyncio

import pytest

from pensieve_core import TextDelta
from pensieve_mlx import MLXEngine
from tests.mlx.conftest import ask, collect

pytestmark = pytest.mark.anyio

PROMPTS = ["Describe a cat.", "Describe a dog.", "Describe a bird.", "Describe a fish."]


async def test_cancel_one_of_four(tiny_engine: MLXEngine) -> None:
    expected = [(await collect(tiny_engine.start(ask(p, max_tokens=30))))[0] for p in PROMPTS]

    async def cancel_after_two_tokens() -> None:
        async with await tiny_engine.start(ask(PROMPTS[0], max_tokens=30)) as generation:
            seen = 0
            async for event in generation.events():
                if isinstance(event, TextDelta):
                    seen += 1
                    if seen == 2:
                        break

    results = await asyncio.gather(
        cancel_after_two_tokens(),
        *[collect(tiny_engine.start(ask(p, max_tokens=30))) for p in PROMPTS[1:]],
    )
    assert [r[0] for r in results[1:]] == expected[1:]  # type: ignore[index]


async def test_fifty_cancellations_leak_nothing(tiny_engine: MLXEngine) -> None:
    for _ in range(50):
        async with await tiny_engine.start(ask("Tell me everything.", max_tokens=500)) as g:
            async for event in g.events():
                if isinstance(event, TextDelta):
                    break
    for _ in range(100):
        stats = tiny_engine.stats()
        if stats.active_sequences == 0 and stats.queued_requests == 0:
            break
        await asyncio.sleep(0.02)
    assert tiny_engine.stats().active_sequences == 0
    assert tiny_engine.stats().queued_requests == 0
    # The engine still serves.
    text, finished, _ = await collect(tiny_engine.start(ask("still there?", max_tokens=3)))
    assert finished.usage.completion_tokens >= 1
    assert isinstance(text, str)
