import pytest

from pensieve_core import (
    ContextLengthExceededError,
    Finished,
    Generation,
    GenerationRequest,
    Message,
    OverloadedError,
    SamplingParams,
    TextDelta,
    TextPart,
    ToolCallStart,
    ToolChoice,
)
from pensieve_core.testing import FakeEngine

pytestmark = pytest.mark.anyio


def _request(text: str = "hello there", max_tokens: int = 100) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart(text),)),),
        sampling=SamplingParams(max_tokens=max_tokens),
    )


def test_context_error_has_claude_code_wording() -> None:
    err = ContextLengthExceededError(12000, 8192)
    assert str(err) == "prompt is too long: 12000 tokens > 8192 maximum"
    assert (err.prompt_tokens, err.max_tokens) == (12000, 8192)


def test_tool_choice_name_only_with_tool_mode() -> None:
    assert ToolChoice("tool", "get_weather").name == "get_weather"
    with pytest.raises(AssertionError):
        ToolChoice("auto", "x")


async def test_fake_engine_streams_script_and_finishes() -> None:
    engine = FakeEngine(reply=("a", "b"), tool_call=("lookup", '{"q": 1}'))
    async with await engine.start(_request()) as generation:
        events = [e async for e in generation.events()]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b"]
    assert any(isinstance(e, ToolCallStart) and e.name == "lookup" for e in events)
    last = events[-1]
    assert isinstance(last, Finished)
    assert last.reason == "tool_use"
    assert last.usage.prompt_tokens == await engine.count_tokens(_request())


async def test_fake_engine_counts_cancellation() -> None:
    engine = FakeEngine()
    generation = await engine.start(_request())
    assert isinstance(generation, Generation)
    events = generation.events()
    assert events.__aiter__() is events
    await anext(events)
    await generation.aclose()
    assert [e async for e in events] == []
    assert engine.cancelled == 1
    assert engine.active == 0


async def test_fake_engine_limits() -> None:
    engine = FakeEngine(model_info=FakeEngine().model_info.__class__("m", 3, 10))
    with pytest.raises(ContextLengthExceededError):
        await engine.start(_request("one two three four"))
    with pytest.raises(OverloadedError):
        await FakeEngine(overloaded=True).start(_request())
    events = [e async for e in (await FakeEngine().start(_request(max_tokens=1))).events()]
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "length"
