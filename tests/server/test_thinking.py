"""Thinking over FakeEngine: signed blocks that verify when they come back, budgets, server tools."""

import json

import httpx
import pytest
from structlog.testing import capture_logs

from pensieve_core import ThinkingPart
from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from pensieve_server.anthropic.signatures import ThinkingSigner

pytestmark = pytest.mark.anyio

BODY: dict[str, object] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "What is 2+2?"}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}


@pytest.fixture(name="engine")
def _engine() -> FakeEngine:
    return FakeEngine(thinking=("Two and", " two make four."), reply=("4",))


def _follow_up(block: dict[str, object]) -> dict[str, object]:
    return {
        **BODY,
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": [block, {"type": "text", "text": "4"}]},
            {"role": "user", "content": "And 3+3?"},
        ],
    }


def _replayed(engine: FakeEngine) -> list[ThinkingPart]:
    assistant = engine.requests[-1].messages[1]
    return [p for p in assistant.parts if isinstance(p, ThinkingPart)]


async def test_own_thinking_verifies_and_is_replayed(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    body = (await client.post("/v1/messages", json=BODY)).json()
    block = body["content"][0]
    assert block["type"] == "thinking"
    assert block["thinking"] == "Two and two make four."
    assert block["signature"]
    assert (await client.post("/v1/messages", json=_follow_up(block))).status_code == 200
    assert _replayed(engine) == [ThinkingPart("Two and two make four.", block["signature"])]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "thinking", "thinking": "Two and two make five.", "signature": "EqQBCgIYAhIM"},
        {"type": "thinking", "thinking": "No signature at all."},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
    ],
    ids=["foreign", "unsigned", "redacted"],
)
async def test_other_thinking_is_left_out(
    client: httpx.AsyncClient, engine: FakeEngine, block: dict[str, object]
) -> None:
    assert (await client.post("/v1/messages", json=_follow_up(block))).status_code == 200
    assert _replayed(engine) == []


async def test_edited_thinking_does_not_verify(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    block = (await client.post("/v1/messages", json=BODY)).json()["content"][0]
    edited = {**block, "thinking": block["thinking"].replace("four", "five")}
    assert (await client.post("/v1/messages", json=_follow_up(edited))).status_code == 200
    assert _replayed(engine) == []


async def test_streamed_signature_verifies(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    response = await client.post("/v1/messages", json={**BODY, "stream": True})
    thinking, signature = "", ""
    for chunk in response.text.strip().split("\n\n"):
        data = json.loads(chunk.split("data: ", 1)[1])
        delta = data.get("delta", {})
        thinking += delta.get("thinking", "")
        signature += delta.get("signature", "")
    assert thinking == "Two and two make four."
    block = {"type": "thinking", "thinking": thinking, "signature": signature}
    assert (await client.post("/v1/messages", json=_follow_up(block))).status_code == 200
    assert [p.text for p in _replayed(engine)] == [thinking]


async def test_signatures_hold_across_apps_with_one_key(engine: FakeEngine) -> None:
    """A stored key (what `pensieve start` keeps) verifies what an earlier process signed."""
    key = b"k" * 32
    block = {
        "type": "thinking",
        "thinking": "kept",
        "signature": ThinkingSigner(key).sign("kept"),
    }
    for stored, kept in ((key, True), (None, False)):
        app = create_app(engine, ServerConfig(), thinking_key=stored)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            assert (await c.post("/v1/messages", json=_follow_up(block))).status_code == 200
        assert bool(_replayed(engine)) is kept


@pytest.mark.parametrize(
    ("thinking", "budget"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, 1024),
        ({"type": "between_tools", "budget_tokens": 2048}, 2048),
        ({"type": "adaptive"}, 0),
        ({"type": "disabled"}, 0),
    ],
)
async def test_budget_reaches_the_engine(
    client: httpx.AsyncClient, engine: FakeEngine, thinking: dict[str, object], budget: int
) -> None:
    assert (await client.post("/v1/messages", json={**BODY, "thinking": thinking})).is_success
    assert engine.requests[-1].thinking_budget == budget
    counted = await client.post(
        "/v1/messages/count_tokens",
        json={"model": "m", "messages": BODY["messages"], "thinking": thinking},
    )
    assert counted.status_code == 200


SERVER_TOOLS = [
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2},
    {"type": "code_execution_20250825", "name": "code_execution"},
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    {"type": "memory_20250818", "name": "memory"},
    {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
    {
        "type": "computer_20250124",
        "name": "computer",
        "display_width_px": 1024,
        "display_height_px": 768,
    },
]


async def test_server_tools_are_skipped_and_logged_once(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    body = {
        **BODY,
        "tools": [
            *SERVER_TOOLS,
            {"name": "Read", "input_schema": {"type": "object"}, "strict": True},
        ],
        "mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "example"}],
    }
    with capture_logs() as logs:
        for _ in range(3):
            assert (await client.post("/v1/messages", json=body)).status_code == 200
    assert [t.name for t in engine.requests[-1].tools] == ["Read"]
    notes = [e for e in logs if e["event"] == "server_tools_skipped"]
    assert len(notes) == 1, "logged once, not on every turn"
    assert len(notes[0]["tools"]) == len(SERVER_TOOLS) + 1
    assert "web_search (web_search_20250305)" in notes[0]["tools"]
    assert "example (MCP server https://mcp.example/sse)" in notes[0]["tools"]
