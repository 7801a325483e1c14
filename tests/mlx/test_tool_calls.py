"""Forced (grammar-constrained) tool calls on the embedded SmolLM2, alone and in a batch."""

import asyncio
import json
from pathlib import Path
from typing import Any

import mlx.core as mx
import pytest

from pensieve_core import (
    GenerationRequest,
    Message,
    SamplingParams,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)
from pensieve_mlx import MLXEngine, MLXEngineConfig
from pensieve_mlx.grammar import strict_schema
from pensieve_mlx.prose import ProseStart, prose_start_mask
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio

TOOLS = {
    "strings": (
        ToolSpec(
            "get_weather",
            "Weather for a city",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
        "What's the weather in Paris?",
    ),
    "numbers": (
        ToolSpec(
            "add",
            "Add two numbers",
            {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        ),
        "What is 2 plus 3?",
    ),
    "enums": (
        ToolSpec(
            "set_mode",
            "Set the light mode",
            {
                "type": "object",
                "properties": {"mode": {"type": "string", "enum": ["on", "off", "dim"]}},
                "required": ["mode"],
            },
        ),
        "Turn the lights off.",
    ),
    "nested": (
        ToolSpec(
            "create_user",
            "Create a user",
            {
                "type": "object",
                "properties": {
                    "user": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                        "required": ["name", "age"],
                    }
                },
                "required": ["user"],
            },
        ),
        "Create a user named Ann who is 30.",
    ),
    "arrays": (
        ToolSpec(
            "tag",
            "Tag a note",
            {
                "type": "object",
                "properties": {
                    "tags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": 3,
                    }
                },
                "required": ["tags"],
            },
        ),
        "Tag this note with the tags 'work' and 'urgent'.",
    ),
}


def _validate(value: Any, schema: dict[str, Any]) -> None:
    """A small JSON-schema check for the keywords these tests use."""
    kind = schema.get("type")
    if "enum" in schema:
        assert value in schema["enum"]
    if kind == "object":
        assert isinstance(value, dict)
        for key in schema.get("required", []):
            assert key in value, f"missing {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _validate(value[key], sub)
    elif kind == "array":
        assert isinstance(value, list)
        assert schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9)
        for item in value:
            _validate(item, schema["items"])
    elif kind == "string":
        assert isinstance(value, str)
    elif kind == "integer":
        assert isinstance(value, int)
        assert not isinstance(value, bool)
    elif kind == "number":
        assert isinstance(value, int | float)
        assert not isinstance(value, bool)


def _request(tool: ToolSpec, question: str, choice: ToolChoice) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart(question),)),),
        tools=(tool,),
        tool_choice=choice,
        sampling=SamplingParams(max_tokens=80, temperature=0.0),
    )


async def _forced_call(
    engine: MLXEngine, tool: ToolSpec, question: str, choice: ToolChoice
) -> dict[str, Any]:
    _, finished, events = await collect(engine.start(_request(tool, question, choice)))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.name for s in starts] == [tool.name]
    assert any(isinstance(e, ToolCallEnd) for e in events)
    assert finished.reason == "tool_use"
    arguments = json.loads("".join(e.arguments for e in events if isinstance(e, ToolCallDelta)))
    _validate(arguments, dict(tool.input_schema))
    return arguments  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", sorted(TOOLS))
async def test_forced_call_validates_against_schema(smol_engine: MLXEngine, kind: str) -> None:
    tool, question = TOOLS[kind]
    await _forced_call(smol_engine, tool, question, ToolChoice("tool", tool.name))


async def test_forced_calls_inside_a_batch(smol_engine: MLXEngine) -> None:
    kinds = ["strings", "numbers", "nested", "arrays"]
    results = await asyncio.gather(
        *[_forced_call(smol_engine, *TOOLS[k], ToolChoice("any")) for k in kinds]
    )
    assert len(results) == 4
    assert results[0]["city"]


async def test_tool_choice_none_gives_text(smol_engine: MLXEngine) -> None:
    tool, question = TOOLS["strings"]
    text, finished, events = await collect(
        smol_engine.start(_request(tool, question, ToolChoice("none")))
    )
    assert not any(isinstance(e, ToolCallStart) for e in events)
    assert finished.reason in ("stop", "length")
    assert text


async def test_lazy_grammar_keeps_a_started_call_well_formed(smol_engine: MLXEngine) -> None:
    """Under tool_choice auto the model may answer in text; a call it opens must be valid."""
    tool, _ = TOOLS["nested"]
    request = GenerationRequest(
        messages=(
            Message(
                "user", (TextPart("Create a user named Ann who is 30. Use the create_user tool."),)
            ),
        ),
        tools=(tool,),
        tool_choice=ToolChoice("auto"),
        sampling=SamplingParams(max_tokens=80, temperature=0.0),
    )
    _, finished, events = await collect(smol_engine.start(request))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    if starts:
        assert finished.reason == "tool_use"
        arguments = json.loads("".join(e.arguments for e in events if isinstance(e, ToolCallDelta)))
        _validate(arguments, dict(tool.input_schema))
    else:
        assert finished.reason in ("stop", "length")


async def test_always_policy_makes_auto_call(smol_path: Path) -> None:
    engine = load_engine(smol_path, MLXEngineConfig(tool_grammar="always"))
    try:
        tool, question = TOOLS["strings"]
        arguments = await _forced_call(engine, tool, question, ToolChoice("auto"))
        assert arguments["city"]
    finally:
        await engine.aclose()


async def test_always_policy_answers_tool_results_in_prose(smol_path: Path) -> None:
    engine = load_engine(smol_path, MLXEngineConfig(tool_grammar="always"))
    try:
        tool, question = TOOLS["strings"]
        arguments = await _forced_call(engine, tool, question, ToolChoice("auto"))
        request = GenerationRequest(
            messages=(
                Message("user", (TextPart(question),)),
                Message("assistant", (ToolCallPart("call_1", tool.name, arguments),)),
                Message("user", (ToolResultPart("call_1", "Sunny, 21 degrees.", False),)),
            ),
            tools=(tool,),
            sampling=SamplingParams(max_tokens=24, temperature=0.0),
        )
        text, finished, events = await collect(engine.start(request))
        assert not any(isinstance(e, ToolCallStart) for e in events)
        assert finished.reason in ("stop", "length")
        assert text.strip(), "an answer, not an empty turn"
        assert not text.lstrip().startswith(("{", "[", "`", "<tool_call>")), text
    finally:
        await engine.aclose()


async def test_answer_prefix_starts_the_answer(smol_engine: MLXEngine) -> None:
    request = GenerationRequest(
        messages=(Message("user", (TextPart("Summarize our talk about the weather."),)),),
        sampling=SamplingParams(max_tokens=12, temperature=0.0),
        answer_prefix="<summary>\n",
    )
    text, finished, _ = await collect(smol_engine.start(request))
    assert text.startswith("<summary>\n"), text
    assert len(text) > len("<summary>\n"), "the model goes on after it"
    assert finished.usage.completion_tokens == 12


def test_prose_start_bans_call_openers_and_the_end(smol_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smol_path)
    ids = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    eos = int(tokenizer.eos_token_id)
    mask = prose_start_mask(tokenizer, len(tokenizer), frozenset({eos}))
    for opener in ("{", "[", " {", "```", "\n"):
        assert bool(mask[ids(opener)[0]]), opener
    assert bool(mask[eos])
    assert not bool(mask[ids("The")[0]])
    start = ProseStart(mask)
    logits = mx.zeros((len(tokenizer),))
    first = start(mx.array([1]), logits)
    assert float(first[ids("{")[0]]) == -float("inf")
    again = start(mx.array([1]), logits)
    assert float(again[ids("{")[0]]) == 0.0, "only the first token is touched"


def test_strict_schema_closes_objects_but_keeps_explicit_choices() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "c": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    closed = strict_schema(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert closed["properties"]["c"]["additionalProperties"] is True
