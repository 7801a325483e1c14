"""Messages API over FakeEngine: wire format, SSE order, translation, errors."""

import json

import httpx
import pytest

from pensieve_core import (
    ContextLengthExceededError,
    EngineError,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)
from pensieve_core.testing import FakeEngine

pytestmark = pytest.mark.anyio

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Hi there"}],
}


def sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_non_streaming_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=BODY)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["model"] == "claude-sonnet-4-5"
    assert body["content"] == [{"type": "text", "text": "Hello from Pensieve."}]
    assert body["stop_reason"] == "end_turn"
    assert body["stop_sequence"] is None
    assert body["usage"] == {
        "input_tokens": 4,
        "output_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


async def test_streaming_event_order(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    engine.tool_call = ("lookup", '{"q": "x"}')
    response = await client.post("/v1/messages?beta=true", json={**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    assert events[2][1]["index"] == 0
    assert events[7][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": events[7][1]["content_block"]["id"],
            "name": "lookup",
            "input": {},
        },  # type: ignore[index]
    }
    assert events[8][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"q": "x"}'}
    assert events[10][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


async def test_claude_code_shapes_are_translated(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=2;"},
            {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "read it"}]},
            {"role": "system", "content": "# Environment", "output_config": {}},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "abc"},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Read",
                        "input": {"file_path": "a"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "data"}],
                        "is_error": False,
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and?", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {"role": "system", "content": []},
        ],
        "tools": [
            {
                "name": "Read",
                "description": "read",
                "input_schema": {"type": "object"},
                "defer_loading": True,
            }
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": []},
        "output_config": {"effort": "medium"},
        "metadata": {"user_id": "u"},
        "safeguards": {"x": 1},
        "stream": True,
    }
    response = await client.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200
    request = engine.requests[-1]
    # The per-request billing line is dropped at the edge (it would break the prefix cache).
    assert request.system == "You are helpful."
    assert [m.role for m in request.messages] == ["user", "assistant", "user", "user"]
    # The environment after the first prompt goes before it (the same for every new session).
    assert request.messages[0].parts == (
        TextPart("<system-reminder>\n# Environment\n</system-reminder>"),
        TextPart("read it"),
    )
    # Reasoning this server did not sign (another backend's) is not replayed as the model's own.
    assert not any(isinstance(p, ThinkingPart) for p in request.messages[1].parts)
    assert request.messages[1].parts[0] == ToolCallPart("toolu_1", "Read", {"file_path": "a"})
    assert request.messages[2].parts[0] == ToolResultPart("toolu_1", "data", False)
    assert request.sampling.max_tokens == 128000
    assert request.thinking is None
    assert request.tools[0].name == "Read"


async def test_claude_codes_compaction_ask_is_answered_in_text(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    ask = (
        "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.\n\n"
        "Your task is to create a detailed summary of the conversation so far."
    )
    tools = [{"name": "Read", "description": "read", "input_schema": {"type": "object"}}]
    body = {
        **BODY,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "read a.txt"},
            {"role": "assistant", "content": "It says hi."},
            {"role": "user", "content": [{"type": "text", "text": ask}]},
        ],
    }
    assert (await client.post("/v1/messages", json=body)).status_code == 200
    compaction = engine.requests[-1]
    assert compaction.tool_choice.mode == "none"
    assert compaction.answer_prefix == "<summary>\n"
    assert [t.name for t in compaction.tools] == ["Read"], "the tools stay (the prefix is cached)"
    # A summary cut off by max_tokens is resumed with a text turn: still the compaction.
    resumed = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": "<summary>\nWe read a.txt"},
            {"role": "user", "content": "Output token limit hit. Resume directly."},
        ],
    }
    assert (await client.post("/v1/messages", json=resumed)).status_code == 200
    assert engine.requests[-1].tool_choice.mode == "none"
    assert engine.requests[-1].answer_prefix == ""
    plain = {**body, "messages": body["messages"][:1]}
    assert (await client.post("/v1/messages", json=plain)).status_code == 200
    assert engine.requests[-1].tool_choice.mode == "auto"
    assert engine.requests[-1].answer_prefix == ""


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "claude-x", "max_tokens": 10}, "`messages`"),
        ({**BODY, "max_tokens": -1}, "$.max_tokens"),
        ({**BODY, "messages": [{"role": "user", "content": 5}]}, "$.messages[0].content"),
        ({**BODY, "messages": [{"role": "robot", "content": "x"}]}, "$.messages[0].role"),
        (
            {**BODY, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "$.messages[0].content[0]",
        ),
        ({**BODY, "temperature": 5}, "$.temperature"),
        ({**BODY, "tool_choice": {"type": "any"}}, "tool_choice requires tools"),
    ],
)
async def test_invalid_bodies_name_the_path(
    client: httpx.AsyncClient, body: dict[str, object], fragment: str
) -> None:
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert fragment in error["error"]["message"]


async def test_images_refused_without_vision(client: httpx.AsyncClient) -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
    }
    body = {**BODY, "messages": [{"role": "user", "content": [image]}]}
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 400
    assert "no vision" in response.json()["error"]["message"]


async def test_context_overflow_is_the_claude_code_error(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    engine.model_info = engine.model_info.__class__("fake-model", 5, 10)
    response = await client.post(
        "/v1/messages", json={**BODY, "messages": [{"role": "user", "content": "a b c d e f g"}]}
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": str(ContextLengthExceededError(9, 5)),
        },
    }


async def test_overloaded_is_529(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    engine.overloaded = True
    response = await client.post("/v1/messages", json=BODY)
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"


async def test_engine_failure_mid_stream_is_an_error_event(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    engine.error = EngineError("boom")
    response = await client.post("/v1/messages", json={**BODY, "stream": True})
    events = sse_events(response.text)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "boom"}},
    )
    response = await client.post("/v1/messages", json=BODY)
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "api_error", "message": "boom"}


@pytest.mark.parametrize("name", ["gpt-4o", "o3", "my-model", "qwen2.5-coder:7b", "claude-x"])
async def test_any_model_name_reaches_the_one_served_model(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.post("/v1/messages", json={**BODY, "model": name})
    assert response.status_code == 200
    assert response.json()["model"] == name  # echoed, as the client asked
    chat = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
    response = await client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 200
    assert response.json()["model"] == name


async def test_strict_model_names_keep_anthropics_404(engine: FakeEngine) -> None:
    from pensieve_server import ServerConfig, create_app

    app = create_app(engine, ServerConfig(strict_model_names=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        response = await client.post("/v1/messages", json={**BODY, "model": "gpt-4o"})
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
        for name in ("fake-model", "local-model", "claude-haiku-4-5"):
            ok = await client.post("/v1/messages", json={**BODY, "model": name})
            assert ok.status_code == 200


async def test_each_new_model_name_is_logged_once(client: httpx.AsyncClient) -> None:
    import structlog
    from structlog.testing import capture_logs

    structlog.reset_defaults()  # CLI tests configure a level that filters info out
    with capture_logs() as logs:
        for _ in range(3):
            await client.post("/v1/messages", json={**BODY, "model": "my-model"})
    routed = [e for e in logs if e["event"] == "model_name_routed"]
    assert [(e["requested"], e["served"]) for e in routed] == [("my-model", "fake-model")]


async def test_count_tokens(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    body = {
        "model": "claude-x",
        "messages": [{"role": "user", "content": "one two three"}],
        "system": "sys",
    }
    response = await client.post("/v1/messages/count_tokens", json=body)
    assert response.status_code == 200
    assert response.json() == {"input_tokens": 1 + 3 + 2}
    assert engine.requests == []  # counting generates nothing


async def test_pings_keep_a_silent_stream_alive() -> None:
    """While the engine is silent (e.g. prefilling a long prompt), the stream sends pings."""
    from pensieve_server import ServerConfig, create_app

    engine = FakeEngine(reply=("slow", " answer"), delay_s=0.3)
    app = create_app(engine, ServerConfig(ping_interval_s=0.05))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        response = await client.post("/v1/messages", json={**BODY, "stream": True})
    names = [name for name, _ in sse_events(response.text)]
    assert names[:2] == ["message_start", "ping"]
    first_delta = names.index("content_block_delta")
    assert names[2:first_delta].count("ping") >= 2, names
    assert names[-1] == "message_stop"


NEW_BLOCKS: list[dict[str, object]] = [
    {
        "type": "search_result",
        "source": "https://a.example",
        "title": "A",
        "content": [{"type": "text", "text": "alpha"}],
    },
    {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "q"}},
    {
        "type": "web_search_tool_result",
        "tool_use_id": "s1",
        "content": [{"type": "web_search_result", "url": "u", "title": "t"}],
    },
    {
        "type": "web_fetch_tool_result",
        "tool_use_id": "s2",
        "content": {"type": "web_fetch_result", "url": "u"},
    },
    {"type": "code_execution_tool_result", "tool_use_id": "s3", "content": {"stdout": "1"}},
    {"type": "bash_code_execution_tool_result", "tool_use_id": "s4", "content": {"stdout": "1"}},
    {"type": "text_editor_code_execution_tool_result", "tool_use_id": "s5", "content": {}},
    {"type": "tool_search_tool_result", "tool_use_id": "s6", "content": {}},
    {"type": "mcp_tool_use", "id": "m1", "name": "lookup", "server_name": "srv", "input": {}},
    {"type": "mcp_tool_result", "tool_use_id": "m1", "content": [{"type": "text", "text": "ok"}]},
    {"type": "compaction", "content": "Earlier: the user asked about alpha."},
    {"type": "container_upload", "file_id": "file_1"},
]


@pytest.mark.parametrize("block", NEW_BLOCKS, ids=lambda b: str(b["type"]))
async def test_every_new_sdk_block_is_accepted(
    client: httpx.AsyncClient, engine: FakeEngine, block: dict[str, object]
) -> None:
    body = {
        **BODY,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [block]},
            {"role": "user", "content": "go on"},
        ],
    }
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    counted = await client.post(
        "/v1/messages/count_tokens", json={k: v for k, v in body.items() if k != "max_tokens"}
    )
    assert counted.status_code == 200


async def test_tool_reference_in_a_tool_result_renders_the_loaded_tool(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    tools = [
        {"name": "ToolSearch", "input_schema": {"type": "object"}},
        {
            "name": "WebFetch",
            "description": "Fetch a URL",
            "input_schema": {"type": "object"},
            "defer_loading": True,
        },
    ]
    body = {
        **BODY,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "load it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "ToolSearch", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
                    },
                    {"type": "text", "text": "Tool loaded."},
                ],
            },
        ],
    }
    assert (await client.post("/v1/messages", json=body)).status_code == 200
    request = engine.requests[-1]
    result = request.messages[-1].parts[0]
    assert isinstance(result, ToolResultPart)
    assert "Tool WebFetch is now available" in result.content
    assert "Fetch a URL" in result.content
    assert [t.deferred for t in request.tools] == [False, True]


@pytest.mark.parametrize(
    ("thinking", "after_tool", "expected"),
    [
        ({"type": "between_tools"}, False, False),
        ({"type": "between_tools"}, True, True),
        ({"type": "enabled", "budget_tokens": 2048, "display": "summarized"}, False, True),
        ({"type": "adaptive", "display": "omitted"}, False, None),
    ],
)
async def test_thinking_modes(
    client: httpx.AsyncClient,
    engine: FakeEngine,
    thinking: dict[str, object],
    after_tool: bool,
    expected: bool | None,
) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "hi"}]
    if after_tool:
        messages += [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "42"}],
            },
        ]
    body = {
        **BODY,
        "messages": messages,
        "thinking": thinking,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    }
    assert (await client.post("/v1/messages", json=body)).status_code == 200
    assert engine.requests[-1].thinking is expected
