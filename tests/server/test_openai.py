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
