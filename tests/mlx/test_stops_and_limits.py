"""Stop sequences, the context window and the queue limit."""

import asyncio
from pathlib import Path

import pytest

from pensieve_core import ContextLengthExceededError, OverloadedError
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_mlx.stops import StopMatcher
from tests.mlx.conftest import ask, collect, load_engine

pytestmark = pytest.mark.anyio


def test_stop_matcher_spans_pieces_and_holds_back() -> None:
    matcher = StopMatcher(["END!", "zz"])
    assert matcher.feed("abc E") == ("abc ", None)
    assert matcher.feed("N") == ("", None)
    assert matcher.feed("D! tail") == ("", "END!")


def test_stop_matcher_releases_false_starts() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("EN") == ("", None)
    assert matcher.feed("x") == ("ENx", None)
    assert matcher.flush() == ""


async def test_stop_sequence_across_tokens(smol_engine: MLXEngine) -> None:
    baseline, _, _ = await collect(
        smol_engine.start(ask("Count from 1 to 10, one per line.", max_tokens=40))
    )
    assert "4\n5" in baseline or "4. 4\n5" in baseline
    stop = baseline[baseline.index("4") : baseline.index("5") + 1]  # spans several tokens
    text, finished, _ = await collect(
        smol_engine.start(ask("Count from 1 to 10, one per line.", max_tokens=40, stop=(stop,)))
    )
    assert finished.reason == "stop_sequence"
    assert finished.stop_sequence == stop
    assert text == baseline[: baseline.index(stop)]
    assert stop not in text


async def test_prompt_over_context_fails_fast_with_both_numbers(smol_engine: MLXEngine) -> None:
    request = ask("word " * 9000)
    with pytest.raises(ContextLengthExceededError) as info:
        await smol_engine.start(request)
    assert info.value.prompt_tokens > 9000
    assert info.value.max_tokens == 8192 - 16
    assert (
        str(info.value)
        == f"prompt is too long: {info.value.prompt_tokens} tokens > {8192 - 16} maximum"
    )
    assert smol_engine.stats().active_sequences == 0


async def test_max_context_tokens_caps_the_window(tiny_model_path: Path) -> None:
    engine = load_engine(tiny_model_path, MLXEngineConfig(max_context_tokens=200))
    try:
        assert engine.info.context_length == 200
        with pytest.raises(ContextLengthExceededError) as info:
            await engine.start(ask("word " * 220))
        assert info.value.max_tokens < 200
        _, finished, _ = await collect(engine.start(ask("hello", max_tokens=8)))
        assert finished.reason in ("stop", "length")
    finally:
        await engine.aclose()


async def test_huge_max_tokens_is_clamped_not_rejected(smol_engine: MLXEngine) -> None:
    _, finished, _ = await collect(smol_engine.start(ask("Hi", max_tokens=128000)))
    assert finished.reason in ("stop", "length")


async def test_full_queue_fails_fast(tiny_model_path: Path) -> None:
    engine = load_engine(
        tiny_model_path, MLXEngineConfig(max_active_sequences=1, max_queued_requests=2)
    )
    try:
        first = await engine.start(ask("hello", max_tokens=200))
        while engine.stats().active_sequences < 1:  # the one slot is taken
            await asyncio.sleep(0.01)
        waiting = [await engine.start(ask("hello", max_tokens=200)) for _ in range(2)]
        assert engine.stats().queued_requests == 2
        with pytest.raises(OverloadedError):
            await engine.start(ask("one too many"))
        for g in [first, *waiting]:
            await g.aclose()
    finally:
        await engine.aclose()


async def test_running_out_of_window_is_its_own_stop_reason(tiny_engine: MLXEngine) -> None:
    window = tiny_engine.info.context_length
    # Asks for more than the window leaves: the answer ends where the window does.
    request = ask("one two three four five six seven eight nine ten " * 9, max_tokens=window)
    _, finished, _ = await collect(tiny_engine.start(request))
    if finished.reason != "stop":  # a random-weight model may end on its own first
        assert finished.reason == "context_window"
        total = finished.usage.prompt_tokens + finished.usage.completion_tokens
        assert total == window
    _, by_request, _ = await collect(tiny_engine.start(ask("one two", max_tokens=3)))
    assert by_request.reason in ("length", "stop")
