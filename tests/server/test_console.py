"""The console's routes over FakeEngine: the page, content negotiation, stats, recent requests."""

import httpx
import pytest

from pensieve_api import chat_decoder, messages_decoder
from pensieve_core import Finished, Timings, Usage
from pensieve_core.testing import FakeEngine
from pensieve_metrics import InstrumentedEngine, MetricsRegistry
from pensieve_server import ServerConfig, create_app
from pensieve_server.console import prefers_html
from pensieve_server.recent import RecentRequests, Totals
from pensieve_server.redact import request_shape
from tests.server.test_metrics import sample

pytestmark = pytest.mark.anyio

SECRET = "the secret launch code is 4471"
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
BODY = {
    "model": "claude-x",
    "max_tokens": 10,
    "system": "You are terse.",
    "tools": [TOOL],
    "messages": [
        {"role": "user", "content": SECRET},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Calling."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo", "name": "Ann"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
        },
    ],
}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json;q=0.9", False),
        ("application/json;q=0.1, text/html", True),
        ("text/html;q=bogus", False),
    ],
)
def test_accept_negotiation(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


async def test_root_serves_the_page_to_browsers_and_json_to_scripts(
    client: httpx.AsyncClient,
) -> None:
    anonymous = {"x-api-key": ""}
    page = await client.get("/", headers={"accept": BROWSER, **anonymous})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/console/console.js" in page.text
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert page.headers["vary"] == "accept"
    for accept in ("application/json", "*/*"):
        hello = await client.get("/", headers={"accept": accept, **anonymous})
        assert hello.json() == {"name": "pensieve", "model": "fake-model"}
    head = await client.head("/", headers={"accept": BROWSER})
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/html")


async def test_assets_are_public_and_nothing_else_is_served(client: httpx.AsyncClient) -> None:
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        response = await client.get(f"/console/{name}", headers={"x-api-key": ""})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["x-content-type-options"] == "nosniff"
    for name in ("index.html", "routes.py", "..%2F__init__.py", "nope.js"):
        assert (await client.get(f"/console/{name}")).status_code == 404


async def test_assets_fetch_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    for path in ("/console/console.js", "/console/console.css"):
        text = (await client.get(path)).text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        for remote in ("https://", "@import", "url("):
            assert remote not in text
    page = (await client.get("/", headers={"accept": "text/html"})).text
    for inline in ("http", "<script>", "style="):
        assert inline not in page


@pytest.mark.parametrize(
    "path", ["/v1/pensieve/stats", "/v1/pensieve/requests", "/v1/pensieve/requests/x"]
)
async def test_console_data_needs_the_key(client: httpx.AsyncClient, path: str) -> None:
    for key in ("", "wrong"):
        response = await client.get(path, headers={"x-api-key": key})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


async def test_stats_have_the_figures_of_metrics() -> None:
    metrics = MetricsRegistry()
    app = create_app(InstrumentedEngine(FakeEngine(), metrics), ServerConfig(), observer=metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        before = (await client.get("/v1/pensieve/stats")).json()
        assert (before["requests"], before["output_tokens"]) == (0, 0)
        for stream in (False, True):
            await client.post("/v1/messages", json={**BODY, "stream": stream})
        await client.post(
            "/v1/chat/completions",
            json={
                "model": "gpt-4o",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        stats = (await client.get("/v1/pensieve/stats")).json()
        text = (await client.get("/metrics")).text
    assert stats["requests"] == 3
    assert stats["prompt_tokens"] == sample(text, "pensieve_prompt_tokens_total")
    assert stats["cached_tokens"] == sample(text, "pensieve_cached_tokens_total")
    assert stats["output_tokens"] == sample(text, "pensieve_generated_tokens_total") > 0
    assert stats["active_sequences"] == sample(text, "pensieve_active_sequences") == 0
    assert stats["queued_requests"] == sample(text, "pensieve_queue_depth") == 0
    assert stats["time"] > before["time"]


async def test_recent_requests_list_them_newest_first(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=BODY)
    await client.post("/v1/messages", json={**BODY, "stream": True})
    await client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": SECRET}], "stream": True},
    )
    # Refused after decoding (tool_choice without tools): listed as an error.
    await client.post("/v1/messages", json={**BODY, "tools": [], "tool_choice": {"type": "any"}})
    await client.get("/health")  # not a generation: not listed
    listed = (await client.get("/v1/pensieve/requests")).json()
    assert listed["capacity"] == 100
    rows = listed["data"]
    failed, chat, streamed, plain = rows
    assert (failed["status"], failed["finish_reason"]) == (400, "error")
    assert (chat["route"], chat["model"], chat["stream"]) == (
        "/v1/chat/completions",
        "gpt-4o",
        True,
    )
    assert (streamed["route"], streamed["stream"], plain["stream"]) == ("/v1/messages", True, False)
    for row in (chat, streamed, plain):
        assert (row["status"], row["finish_reason"]) == (200, "stop")
        assert min(row["prompt_tokens"], row["output_tokens"], row["duration_ms"]) > 0
        assert row["id"].startswith("req_")
    assert "shape" not in plain
    assert SECRET not in str(rows)


async def test_a_recent_request_shows_its_shape_and_never_its_text(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/messages", json=BODY)
    detail = (await client.get(f"/v1/pensieve/requests/{response.headers['request-id']}")).json()
    shape = detail["shape"]
    assert (shape["model"], shape["max_tokens"]) == ("claude-x", 10)
    assert shape["system"] == "<14 chars>"
    assert shape["tools"][0]["name"] == "get_weather"
    assert shape["tools"][0]["description"] == "<21 chars>"
    assert [m["role"] for m in shape["messages"]] == ["user", "assistant", "user"]
    assert shape["messages"][0]["content"] == f"<{len(SECRET)} chars>"
    call = shape["messages"][1]["content"][1]
    assert (call["type"], call["name"], call["id"]) == ("tool_use", "get_weather", "toolu_1")
    assert call["input"] == {"city": "<4 chars>", "name": "<3 chars>"}  # arguments are data
    assert shape["messages"][2]["content"][0]["type"] == "tool_result"
    for text in (SECRET, "terse", "Oslo", "Ann", "sunny", "Calling", "weather in a city"):
        assert text not in str(detail)
    assert (await client.get("/v1/pensieve/requests/req_unknown")).status_code == 404


async def test_cache_miss_reasons_are_listed(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=BODY)
    await client.post("/v1/messages", json={**BODY, "system": "Something else entirely."})
    rows = (await client.get("/v1/pensieve/requests")).json()["data"]
    # FakeEngine caches nothing: the second turn of the conversation misses, for its system.
    assert rows[0]["cache_miss_reason"] == "system_changed"
    assert rows[1]["cache_miss_reason"] is None


async def test_the_ring_is_bounded_and_can_keep_none() -> None:
    config = ServerConfig(recent_requests=2)
    app = create_app(FakeEngine(), config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        ids = [
            (await client.post("/v1/messages", json=BODY)).headers["request-id"] for _ in range(3)
        ]
        rows = (await client.get("/v1/pensieve/requests")).json()["data"]
        assert [r["id"] for r in rows] == ids[:0:-1]
        assert (await client.get("/v1/pensieve/stats")).json()["requests"] == 3
    app = create_app(FakeEngine(), ServerConfig(recent_requests=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        await client.post("/v1/messages", json=BODY)
        assert (await client.get("/v1/pensieve/requests")).json()["data"] == []
        assert (await client.get("/v1/pensieve/stats")).json()["requests"] == 1


def test_totals_keep_recent_means() -> None:
    totals = Totals()
    for rate in range(1, 31):
        totals.add(Finished("stop", Usage(10, 2, 4), timings=_timings(rate)))
    assert (totals.requests, totals.prompt_tokens, totals.cached_tokens) == (30, 300, 120)
    assert totals.decode_tokens_per_s == sum(range(11, 31)) / 20  # the last 20
    assert totals.ttft_s == pytest.approx(sum(range(11, 31)) / 20 / 100)
    assert RecentRequests(5).rows() == []


def test_shape_of_an_openai_request_keeps_tool_names_only() -> None:
    body = chat_decoder.decode(
        b'{"model": "m", "messages": [{"role": "assistant", "content": null, "tool_calls": '
        b'[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 1}"}}]}],'
        b' "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}'
    )
    shape = request_shape(body)
    call = shape["messages"][0]["tool_calls"][0]["function"]
    assert call == {"name": "f", "arguments": "<8 chars>"}
    assert shape["tools"][0]["function"]["parameters"] == {"type": "<6 chars>"}
    assert "content" not in shape["messages"][0]  # unset fields are dropped
    # Numbers are kept: they are settings (max_tokens, temperature), not text.
    assert request_shape(
        messages_decoder.decode(
            b'{"model": "m", "max_tokens": 7, "temperature": 0.5, "messages": [{"role": "user", "content": "x"}]}'
        )
    ) == {
        "model": "m",
        "max_tokens": 7,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "<1 chars>"}],
        "stream": False,
    }


def _timings(rate: int) -> Timings:
    return Timings(ttft_s=rate / 100, decode_tokens_per_s=rate)


def test_shape_of_a_deeply_nested_body_stops_at_a_depth() -> None:
    # A tool schema 400 levels deep (the engine refuses it with a 400): the shape must not fail.
    schema = '{"type": "string"}'
    for _ in range(400):
        schema = '{"type": "object", "properties": {"x": ' + schema + "}}"
    body = messages_decoder.decode(
        b'{"model": "m", "max_tokens": 7, "messages": [{"role": "user", "content": "x"}], '
        b'"tools": [{"name": "deep", "input_schema": ' + schema.encode() + b"}]}"
    )
    shape = request_shape(body)
    assert shape["tools"][0]["name"] == "deep"
    level = shape["tools"][0]["input_schema"]
    depth = 0
    while isinstance(level, dict):
        level = level["properties"]
        level = level["x"] if isinstance(level, dict) else level
        depth += 1
    assert level == "<nested>"
    assert depth < 400
