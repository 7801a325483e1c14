"""``tool_addition`` / ``tool_removal`` in role:system turns (SDK 2.13) over FakeEngine."""

import httpx
import pytest

from pensieve_core import TextPart
from pensieve_core.testing import FakeEngine

pytestmark = pytest.mark.anyio

FETCH = {
    "name": "WebFetch",
    "description": "Fetch a URL",
    "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}},
}
READ = {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}


def body(*system_blocks: dict[str, object]) -> dict[str, object]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "tools": [READ, {**FETCH, "defer_loading": True}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": list(system_blocks)},
            {"role": "user", "content": "go on"},
        ],
    }


def reminder(engine: FakeEngine) -> str:
    part = engine.requests[-1].messages[2].parts[0]
    assert isinstance(part, TextPart)
    return part.text


async def test_addition_by_reference_describes_the_tool_there(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    addition = {"type": "tool_addition", "tool": {"type": "tool_reference", "name": "WebFetch"}}
    response = await client.post("/v1/messages", json=body(addition))
    assert response.status_code == 200, response.text
    assert "Tool WebFetch is now available" in reminder(engine)
    assert "Fetch a URL" in reminder(engine)
    assert {t.name for t in engine.requests[-1].tools} == {"Read", "WebFetch"}


async def test_inline_definition_becomes_callable_and_is_not_listed_up_front(
    client: httpx.AsyncClient, engine: FakeEngine
) -> None:
    grep = {"name": "Grep", "description": "Search files", "input_schema": {"type": "object"}}
    addition = {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": grep}}
    assert (await client.post("/v1/messages", json=body(addition))).status_code == 200
    tools = {t.name: t for t in engine.requests[-1].tools}
    assert tools["Grep"].deferred, "described where it was added, so the prefix holds"
    assert "Search files" in reminder(engine)


async def test_removal_takes_the_tool_away(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    removal = {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "Read"}}
    text = {"type": "text", "text": "Reading is over."}
    assert (await client.post("/v1/messages", json=body(text, removal))).status_code == 200
    assert reminder(engine).endswith(
        "Reading is over.\nTool Read is no longer available.\n</system-reminder>"
    )
    assert [t.name for t in engine.requests[-1].tools] == ["WebFetch"]


async def test_mcp_references_are_accepted(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    blocks = [
        {"type": "tool_addition", "tool": {"type": "mcp_toolset_reference", "server_name": "gh"}},
        {
            "type": "tool_removal",
            "tool": {"type": "mcp_tool_reference", "server_name": "gh", "name": "issues"},
        },
    ]
    assert (await client.post("/v1/messages", json=body(*blocks))).status_code == 200
    assert {t.name for t in engine.requests[-1].tools} == {"Read", "WebFetch"}
