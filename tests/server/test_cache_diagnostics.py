"""``diagnostics.cache_miss_reason`` over FakeEngine (which caches nothing: every turn misses)."""

from typing import Any

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_metrics import MetricsRegistry
from pensieve_server import ServerConfig, create_app

pytestmark = pytest.mark.anyio

SYSTEM = "You are a careful assistant. " * 8
TOOLS = [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}]
HISTORY = [{"role": "user", "content": "Tell me about " + "rivers " * 30}]


def body(**changes: Any) -> dict[str, Any]:
    return {
        "model": "claude-opus-5-5",
        "max_tokens": 20,
        "system": SYSTEM,
        "tools": TOOLS,
        "messages": HISTORY,
        **changes,
    }


async def turn(client: httpx.AsyncClient, previous: str | None, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/messages", json=body(diagnostics={"previous_message_id": previous}, **changes)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def follow_up(first: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *HISTORY,
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "go on"},
    ]


async def test_first_turn_has_nothing_to_explain(client: httpx.AsyncClient) -> None:
    first = await turn(client, None)
    assert first["diagnostics"] == {"cache_miss_reason": None}
    plain = (await client.post("/v1/messages", json=body())).json()
    assert plain["diagnostics"] is None, "only requests that ask get diagnostics"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"tools": [*TOOLS, {"name": "Grep", "input_schema": {"type": "object"}}]},
            "tools_changed",
        ),
        ({"system": SYSTEM + " Be brief."}, "system_changed"),
        ({"model": "claude-haiku-5"}, "model_changed"),
        (
            {"messages": [{"role": "user", "content": "Something else entirely"}]},
            "messages_changed",
        ),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "unavailable"),
    ],
)
async def test_the_first_change_in_prompt_order_is_named(
    client: httpx.AsyncClient, changes: dict[str, Any], reason: str
) -> None:
    first = await turn(client, None)
    second = await turn(client, first["id"], **changes)
    miss = second["diagnostics"]["cache_miss_reason"]
    assert miss["type"] == reason
    if reason != "unavailable":
        assert miss["cache_missed_input_tokens"] > 50


async def test_an_unknown_previous_message(client: httpx.AsyncClient) -> None:
    second = await turn(client, "msg_0123456789abcdef")
    assert second["diagnostics"]["cache_miss_reason"] == {
        "type": "previous_message_not_found",
        "cache_missed_input_tokens": None,
    }


async def test_misses_are_counted_by_reason_without_asking(engine: FakeEngine) -> None:
    metrics = MetricsRegistry()
    app = create_app(engine, ServerConfig(), observer=metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        first = (await client.post("/v1/messages", json=body())).json()
        await client.post("/v1/messages", json=body(messages=follow_up(first)))
        await client.post(
            "/v1/messages", json=body(messages=follow_up(first), system="Another prompt.")
        )
        text = (await client.get("/metrics")).text
    assert 'pensieve_prefix_cache_misses_total{reason="system_changed"} 1.0' in text
    # Turn 2 appended to turn 1, but the fake engine caches nothing: not reused, no divergence.
    assert 'pensieve_prefix_cache_misses_total{reason="unavailable"} 1.0' in text
