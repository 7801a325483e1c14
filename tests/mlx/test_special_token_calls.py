"""Tool calls on a model whose call markers are special tokens: Qwen2.5's `<tool_call>` (151657).

A tiny random model carries the real Qwen2.5 vocabulary and chat template (from the registry GGUF
of `make model-coder`); the grammar must match the marker tokens themselves, and special tokens
never reach the text.
"""

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from transformers import AutoTokenizer

from pensieve_core import (
    GenerationRequest,
    Message,
    SamplingParams,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
)
from pensieve_mlx import MLXEngine
from pensieve_mlx.grammar import CallMarkers, GrammarFactory, forced_call_grammar, lazy_call_grammar
from pensieve_mlx.markers import ModelMarkers
from pensieve_mlx.text_stream import TextRouter
from pensieve_server import ServerConfig, create_app
from tests.mlx.conftest import collect, load_engine

pytestmark = pytest.mark.anyio

CALL_OPEN, CALL_CLOSE = 151657, 151658
WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    # An enum and compact JSON: a random model would otherwise write one endless string, or
    # endless whitespace.
    {
        "x-guidance": {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "},
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
        "required": ["city"],
    },
)


@pytest.fixture(name="qwen_path", scope="module")
def _qwen_path(tiny_qwen_path: Path) -> Path:
    return tiny_qwen_path


@pytest.fixture(name="qwen_engine", scope="module")
def _qwen_engine(qwen_path: Path) -> Iterator[MLXEngine]:
    engine = load_engine(qwen_path)
    yield engine
    engine._worker.stop()


@pytest.fixture(name="factory", scope="module")
def _factory(qwen_path: Path) -> GrammarFactory:
    tokenizer = AutoTokenizer.from_pretrained(str(qwen_path))
    return GrammarFactory(tokenizer, len(tokenizer))


def _tokens(qwen_path: Path, text: str) -> list[int]:
    tokenizer = AutoTokenizer.from_pretrained(str(qwen_path))
    return list(tokenizer.encode(text, add_special_tokens=False))


def _run(factory: GrammarFactory, lark: str, tokens: list[int]) -> tuple[bool, bool]:
    """Whether the grammar takes every token, and whether it then accepts (may stop)."""
    matcher = factory.processor(lark)._matcher
    ok = all(matcher.consume_token(t) for t in tokens)
    return ok and not matcher.is_error(), matcher.is_accepting()


def test_markers_are_the_special_tokens(factory: GrammarFactory) -> None:
    assert factory.call_markers == CallMarkers(f"<[{CALL_OPEN}]>", f"<[{CALL_CLOSE}]>")


def test_forced_grammar_takes_the_marker_tokens(factory: GrammarFactory, qwen_path: Path) -> None:
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    tokens = _tokens(qwen_path, call)
    assert tokens[0] == CALL_OPEN
    assert tokens[-1] == CALL_CLOSE
    assert _run(factory, forced_call_grammar([WEATHER], factory.call_markers), tokens) == (
        True,
        True,
    )
    # The marker spelled as text tokens is not the marker (what broke before: the grammar wanted text).
    text_open = _tokens(qwen_path, "<tool") + _tokens(qwen_path, "_call>")
    ok, _ = _run(factory, forced_call_grammar([WEATHER], factory.call_markers), text_open)
    assert not ok


def test_lazy_grammar_triggers_on_the_marker_token(
    factory: GrammarFactory, qwen_path: Path
) -> None:
    lark = lazy_call_grammar([WEATHER], factory.call_markers)
    good = "Let me check.\n<tool_call>\n" + json.dumps(
        {"name": "get_weather", "arguments": {"city": "Paris"}}
    )
    assert _run(factory, lark, _tokens(qwen_path, good + "\n</tool_call>")) == (True, True)
    assert _run(factory, lark, _tokens(qwen_path, "Just text, no call."))[0]
    unknown = 'Hm.\n<tool_call>\n{"name": "read-file", "arguments": {}}\n</tool_call>'
    assert not _run(factory, lark, _tokens(qwen_path, unknown))[0]


def _request(*, stream: bool = True) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message("user", (TextPart("What is the weather in Paris?"),)),),
        tools=(WEATHER,),
        tool_choice=ToolChoice("tool", WEATHER.name),
        sampling=SamplingParams(max_tokens=60, temperature=0.0),
    )


async def test_forced_call_on_special_token_markers(qwen_engine: MLXEngine) -> None:
    text, finished, events = await collect(qwen_engine.start(_request()))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.name for s in starts] == ["get_weather"]
    arguments = json.loads("".join(e.arguments for e in events if isinstance(e, ToolCallDelta)))
    assert arguments["city"] in ("Paris", "Rome")
    assert finished.reason == "tool_use"
    assert "<" not in text  # neither a marker nor a control token came out as text


@pytest.fixture(name="client")
async def _client(qwen_engine: MLXEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(qwen_engine, ServerConfig(api_keys=("sk-test",)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers={"x-api-key": "sk-test"}
    ) as c:
        yield c


def _body(stream: bool) -> dict[str, Any]:
    return {
        "model": "tiny-qwen",
        "max_tokens": 60,
        "temperature": 0,
        "stream": stream,
        "tools": [
            {
                "name": WEATHER.name,
                "description": WEATHER.description,
                "input_schema": dict(WEATHER.input_schema),
            }
        ],
        "tool_choice": {"type": "tool", "name": WEATHER.name},
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }


async def test_forced_call_over_messages_api_not_streamed(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/messages", json=_body(stream=False))
    assert r.status_code == 200, r.text
    message = r.json()
    assert message["stop_reason"] == "tool_use"
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [u["name"] for u in uses] == ["get_weather"]
    assert uses[0]["input"]["city"] in ("Paris", "Rome")
    assert not any("<" in b.get("text", "") for b in message["content"])


async def test_forced_call_over_messages_api_streamed(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/v1/messages", json=_body(stream=True)) as r:
        assert r.status_code == 200
        events = [
            json.loads(line[6:]) async for line in r.aiter_lines() if line.startswith("data: ")
        ]
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["tool_use"]
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial)["city"] in ("Paris", "Rome")
    stop = [e for e in events if e["type"] == "message_delta"]
    assert stop[-1]["delta"]["stop_reason"] == "tool_use"


def test_special_tokens_never_reach_the_text(qwen_engine: MLXEngine) -> None:
    markers = ModelMarkers.from_tokenizer(qwen_engine._loaded.tokenizer, native_tools=True)
    assert {"<|endoftext|>", "<|im_start|>", "<|fim_prefix|>"} <= markers.hidden
    assert "<tool_call>" not in markers.hidden
    router = TextRouter(tool_names=["get_weather"], markers=markers)
    events = router.feed("Hi<|im_start|> there") + router.feed("<|fim_pad|>!") + router.finish()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi there!"
    # `<|endoftext|>` ends a generation, as `<|im_end|>` does (the leak of issue 17).
    assert {151643, 151645} <= set(qwen_engine._eos_ids)
