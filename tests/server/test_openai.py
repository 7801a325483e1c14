"""OpenAI chat completions over FakeEngine."""

import json

import httpx
import pytest

from pensieve_core.testing import FakeEngine

pytestmark = pytest.mark.anyio

BODY = {
    "model": "fake-model",
    "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
}


async def test_completion(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    response = await client.post("/v1/chat/completions", json=BODY)
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "content": "Hello from Pensieve.",
        "tool_calls": None,
        "role": "assistant",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert engine.requests[-1].system == "be nice"


async def test_streamed_tool_call(client: httpx.AsyncClient, engine: FakeEngine) -> None:
    engine.tool_call = ("lookup", '{"q": 1}')
    body = {
        **BODY,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    }
    response = await client.post("/v1/chat/completions", json=body)
    frames = [f.removeprefix("data: ") for f in response.text.strip().split("\n\n")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0]["function"]["name"] == "lookup"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"q": 1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


async def test_openai_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "fake-model", "messages": []}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    client.headers.pop("x-api-key")
    response = await client.post("/v1/chat/completions", json=BODY)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_idle_stream_sends_ping_comments_and_default_temperature_applies() -> None:
    """Both dialects share one stream loop: OpenAI streams ping too (as SSE comments)."""
    from pensieve_server import ServerConfig, create_app

    engine = FakeEngine(reply=("slow", " answer"), delay_s=0.3)
    app = create_app(engine, ServerConfig(ping_interval_s=0.05, default_temperature=0.25))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        response = await client.post("/v1/chat/completions", json={**BODY, "stream": True})
    lines = [line for line in response.text.split("\n\n") if line]
    first_content = next(i for i, line in enumerate(lines) if '"content":"slow"' in line)
    assert lines[1:first_content].count(": ping") >= 2, lines
    assert lines[-1] == "data: [DONE]"
    assert engine.requests[-1].sampling.temperature == 0.25


async def test_openai_refusals_keep_the_openai_shape() -> None:
    """401, 413 and 403 come from the OpenAI wing's own responders."""
    from pensieve_server import ServerConfig, create_app

    app = create_app(FakeEngine(), ServerConfig(api_keys=("k",), max_body_bytes=300))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        unauthorized = await client.post("/v1/chat/completions", json=BODY)
        too_large = await client.post(
            "/v1/chat/completions",
            json={**BODY, "messages": [{"role": "user", "content": "x" * 400}]},
            headers={"authorization": "Bearer k"},
        )
        cross_site = await client.post(
            "/v1/chat/completions", json=BODY, headers={"origin": "https://evil.example"}
        )
        anthropic = await client.post("/v1/messages", json={})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["type"] == "authentication_error"
    assert "Bearer" in unauthorized.json()["error"]["message"]
    assert too_large.status_code == 413
    assert too_large.json()["error"]["type"] == "request_too_large"
    assert cross_site.status_code == 403
    assert "type" not in cross_site.json()  # OpenAI's shape has no top-level type
    assert anthropic.status_code == 401
    assert anthropic.json()["type"] == "error"
    assert anthropic.json()["error"]["message"] == "x-api-key header is required"
