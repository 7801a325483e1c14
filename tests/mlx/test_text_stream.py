"""Tool-call and thinking parsing over recorded model outputs."""

import json

import pytest

from pensieve_core import (
    GenerationEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from pensieve_mlx.text_stream import TextRouter


def run(chunks: list[str], **kwargs: object) -> list[GenerationEvent]:
    router = TextRouter(**kwargs)  # type: ignore[arg-type]
    events: list[GenerationEvent] = []
    for chunk in chunks:
        events += router.feed(chunk)
    return events + router.finish()


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def calls_of(events: list[GenerationEvent]) -> list[tuple[str, object]]:
    names = {e.index: e.name for e in events if isinstance(e, ToolCallStart)}
    args: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            args[e.index] = args.get(e.index, "") + e.arguments
    ends = {e.index for e in events if isinstance(e, ToolCallEnd)}
    assert ends == set(names)
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


def split(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


HERMES = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TWO_CALLS = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
)
QWEN_PARAMETERS = '<tool_call>{"name": "read", "parameters": {"path": "notes/a.txt"}}</tool_call>'
BARE = '  {"name": "get_weather", "arguments": {"city": "Oslo"}}'
BARE_LIST = '[{"name": "get_weather", "arguments": {"city": "A"}}, {"name": "read", "arguments": "{\\"path\\": \\"b\\"}"}]'
TOOLS = ["get_weather", "read"]


@pytest.mark.parametrize("stream_args", [False, True])
@pytest.mark.parametrize("size", [1, 3, 1000])
def test_hermes_block(stream_args: bool, size: int) -> None:
    events = run(split(HERMES, size), tool_names=TOOLS, stream_args=stream_args)
    assert text_of(events) == "Let me check.\n"
    assert calls_of(events) == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("stream_args", [False, True])
def test_two_calls_stay_separate(stream_args: bool) -> None:
    events = run(split(TWO_CALLS), tool_names=TOOLS, stream_args=stream_args)
    assert calls_of(events) == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]


def test_streamed_arguments_arrive_in_pieces() -> None:
    events = run(split(HERMES, 2), tool_names=TOOLS, stream_args=True)
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) > 3
    assert "".join(d.arguments for d in deltas) == '{"city": "Paris"}'


def test_parameters_key() -> None:
    assert calls_of(run(split(QWEN_PARAMETERS), tool_names=TOOLS)) == [
        ("read", {"path": "notes/a.txt"})
    ]


def test_bare_json_recovered() -> None:
    events = run(split(BARE), tool_names=TOOLS)
    assert calls_of(events) == [("get_weather", {"city": "Oslo"})]
    assert text_of(events).strip() == ""


def test_bare_json_list_with_string_arguments() -> None:
    assert calls_of(run(split(BARE_LIST), tool_names=TOOLS)) == [
        ("get_weather", {"city": "A"}),
        ("read", {"path": "b"}),
    ]


@pytest.mark.parametrize(
    "output",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": broken}}\n</tool_call> after',
        '<tool_call>{"name": "unknown_tool", "arguments": {}}</tool_call>',
        "<tool_call>not json at all",
        '{"name": "get_weather", "arguments": {"city": "Oslo"',
        '{"just": "an object"}',
    ],
)
def test_malformed_calls_come_back_as_text(output: str) -> None:
    events = run(split(output), tool_names=TOOLS)
    assert not any(isinstance(e, ToolCallStart) for e in events)
    assert text_of(events) == output


def test_without_tools_markers_are_text() -> None:
    assert text_of(run(split(HERMES))) == HERMES


def test_thinking_is_split_out() -> None:
    events = run(split("<think>Let me think.</think>The answer is 4."))
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think."
    assert text_of(events) == "The answer is 4."


def test_template_opened_thinking() -> None:
    events = run(split("hmm, 2+2</think>\n\n4"), thinking=True)
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "hmm, 2+2"
    assert text_of(events) == "\n\n4"


@pytest.mark.parametrize("stream_args", [False, True])
def test_single_call_answer_is_done_after_its_first_call(stream_args: bool) -> None:
    """``disable_parallel_tool_use``: the router says when the one call has closed."""
    router = TextRouter(tool_names=TOOLS, stream_args=stream_args, max_calls=1)
    first = TWO_CALLS.split("\n<tool_call>")[0]
    events = router.feed(first[:-3])
    assert not router.calls_done, "the call is still open"
    events += router.feed(first[-3:])
    assert router.calls_done
    assert calls_of(events) == [("get_weather", {"city": "Paris"})]
    unlimited = TextRouter(tool_names=TOOLS, stream_args=stream_args)
    unlimited.feed(TWO_CALLS)
    assert not unlimited.calls_done


def test_single_call_keeps_the_first_of_a_call_list() -> None:
    events = run([BARE_LIST], tool_names=TOOLS, max_calls=1)
    assert calls_of(events) == [("get_weather", {"city": "A"})]
