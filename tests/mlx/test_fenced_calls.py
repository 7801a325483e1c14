"""Calls from models that ignore their template: fenced JSON blocks and bare JSON objects."""

import pytest

from pensieve_core import GenerationEvent, ToolCallStart, ToolSpec
from pensieve_mlx.text_stream import TextRouter
from tests.mlx.test_text_stream import calls_of, split, text_of

WEATHER = ToolSpec(
    name="get_weather",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
READ = ToolSpec(
    name="read",
    input_schema={
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    },
)
TOOLS = [WEATHER, READ]
SIZES = [1, 3, 1000]

CALL = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}'
PARIS = [("get_weather", {"city": "Paris", "days": 2})]


def run(chunks: list[str], *, max_calls: int = 0) -> list[GenerationEvent]:
    router = TextRouter(tool_names=[t.name for t in TOOLS], tools=TOOLS, max_calls=max_calls)
    events: list[GenerationEvent] = []
    for chunk in chunks:
        events += router.feed(chunk)
    return events + router.finish()


def no_calls(events: list[GenerationEvent]) -> bool:
    return not any(isinstance(e, ToolCallStart) for e in events)


@pytest.mark.parametrize("size", SIZES)
def test_json_fence(size: int) -> None:
    events = run(split(f"Let me check.\n```json\n{CALL}\n```\nDone.", size))
    assert calls_of(events) == PARIS
    assert text_of(events) == "Let me check.\n\nDone."


@pytest.mark.parametrize("size", SIZES)
def test_plain_fence(size: int) -> None:
    events = run(split(f"```\n{CALL}\n```", size))
    assert calls_of(events) == PARIS
    assert text_of(events) == ""


@pytest.mark.parametrize("size", SIZES)
def test_tool_call_fence(size: int) -> None:
    events = run(split(f"I'll call it:\n```tool_call\n  {CALL}  \n```", size))
    assert calls_of(events) == PARIS
    assert text_of(events) == "I'll call it:\n"


@pytest.mark.parametrize("size", SIZES)
def test_fenced_list(size: int) -> None:
    body = (
        '[{"name": "get_weather", "arguments": {"city": "A"}},\n'
        ' {"name": "read", "parameters": "{\\"path\\": \\"b\\"}"}]'
    )
    events = run(split(f"```json\n{body}\n```\n", size))
    assert calls_of(events) == [("get_weather", {"city": "A"}), ("read", {"path": "b"})]
    assert text_of(events) == "\n"


@pytest.mark.parametrize("size", SIZES)
def test_bare_object(size: int) -> None:
    events = run(split(f"\n{CALL}\n", size))
    assert calls_of(events) == PARIS
    assert text_of(events).strip() == ""


def test_fenced_list_single_call() -> None:
    body = '[{"name": "get_weather", "arguments": {"city": "A"}}, {"name": "read", "arguments": {"path": "b"}}]'
    events = run([f"```json\n{body}\n```"], max_calls=1)
    assert calls_of(events) == [("get_weather", {"city": "A"})]


def test_fence_left_open_at_the_end() -> None:
    """The response ended right after the value (e.g. a stop sequence took the closing fence)."""
    assert calls_of(run(split(f"```json\n{CALL}\n"))) == PARIS


def test_call_then_more_fences() -> None:
    output = f"```json\n{CALL}\n```\nand a sample:\n```python\nprint(1)\n```\n"
    events = run(split(output))
    assert calls_of(events) == PARIS
    assert text_of(events) == "\nand a sample:\n```python\nprint(1)\n```\n"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "output",
    [
        # An unknown tool.
        'Try:\n```json\n{"name": "delete_all", "arguments": {"city": "Paris"}}\n```\nok',
        # Arguments of the wrong type.
        '```json\n{"name": "get_weather", "arguments": {"city": 7}}\n```',
        '```\n{"name": "get_weather", "arguments": {"city": "Paris", "days": "two"}}\n```',
        # A missing required argument.
        '```tool_call\n{"name": "get_weather", "arguments": {"days": 2}}\n```',
        # An argument the schema does not allow.
        '```json\n{"name": "read", "arguments": {"path": "a", "mode": "w"}}\n```',
        # One bad call spoils the list.
        '```json\n[{"name": "read", "arguments": {"path": "a"}}, {"name": "read", "arguments": {}}]\n```',
        # Bare JSON with arguments that do not fit.
        '{"name": "get_weather", "arguments": {"city": ["Paris"]}}',
        # JSON that is no call: a code sample.
        'An example:\n```json\n{"a": 1}\n```\nThat is all.',
        "```\n[1, 2, 3]\n```",
        # Other fences and near misses.
        "```python\nprint({'a': 1})\n```\nafter",
        "```\nnot json\n```",
        f"```json\n{CALL} trailing\n```",
        '```json\n{"name": "get_weather", "arguments": {"city": "Par',
        "inline ``` fence and ``code``",
        "```json",
        "ends with a backtick `",
    ],
)
def test_not_a_call_stays_text(output: str, size: int) -> None:
    events = run(split(output, size))
    assert no_calls(events)
    assert text_of(events) == output


@pytest.mark.parametrize("size", SIZES)
def test_call_markers_inside_a_text_fence_still_work(size: int) -> None:
    output = '```xml\n<tool_call>{"name": "read", "arguments": {"path": "a"}}</tool_call>\n```'
    events = run(split(output, size))
    assert calls_of(events) == [("read", {"path": "a"})]
    assert text_of(events) == "```xml\n\n```"


def test_code_fence_strings_inside_arguments() -> None:
    body = '{"name": "read", "arguments": {"path": "```py\\nx\\n```"}}'
    assert calls_of(run(split(f"```json\n{body}\n```", 2))) == [("read", {"path": "```py\nx\n```"})]


def test_without_tools_fences_are_text() -> None:
    router = TextRouter()
    output = f"```json\n{CALL}\n```"
    assert text_of(router.feed(output) + router.finish()) == output
