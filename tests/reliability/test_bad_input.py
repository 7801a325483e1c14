"""Bad input is a 4xx in the dialect's shape, on the real server with the real engine."""

import json
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import API_KEY

USER = [{"role": "user", "content": "hi"}]
HEADERS = {"x-api-key": API_KEY, "content-type": "application/json"}


def _post(url: str, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(f"{url}{path}", content=content, headers=HEADERS, timeout=120)


def _message(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 5, "messages": USER, **extra}


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled", "budget_tokens": 1024},
        {"type": "disabled"},
        {"type": "adaptive"},
    ],
)
def test_every_thinking_mode_is_accepted(server_url: str, thinking: dict[str, Any]) -> None:
    assert _post(server_url, "/v1/messages", _message(thinking=thinking)).status_code == 200
    counted = _post(
        server_url,
        "/v1/messages/count_tokens",
        {"model": "claude-x", "messages": USER, "thinking": thinking},
    )
    assert counted.status_code == 200


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (
            b'{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"\xff\xfe"}]}',
            "UTF-8",
        ),
        (b'{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"\\ud800"}]}', ""),
        (
            b'{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":'
            + b'{"a":' * 6000
            + b"1"
            + b"}" * 6001,
            "nested too deeply",
        ),
    ],
    ids=["invalid-utf8", "lone-surrogate", "deep-nesting"],
)
def test_undecodable_bodies_are_400(server_url: str, raw: bytes, says: str) -> None:
    for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"):
        response = _post(server_url, path, raw=raw)
        assert response.status_code == 400, (path, response.text)
        assert says in response.text
        assert response.headers["request-id"]


@pytest.mark.parametrize("seed", [-1, -(2**63), 2**63 - 1, 0])
def test_openai_seeds_in_range_work(server_url: str, seed: int) -> None:
    body = {"model": "gpt-4o", "max_tokens": 3, "messages": USER, "seed": seed, "temperature": 1}
    assert _post(server_url, "/v1/chat/completions", body).status_code == 200


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_openai_seeds_out_of_range_are_400(server_url: str, seed: int) -> None:
    body = {"model": "gpt-4o", "max_tokens": 3, "messages": USER, "seed": seed}
    response = _post(server_url, "/v1/chat/completions", body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_conversation_that_renders_empty_is_400(server_url: str) -> None:
    body = {"model": "gpt-4o", "max_tokens": 3, "messages": [{"role": "system", "content": ""}]}
    response = _post(server_url, "/v1/chat/completions", body)
    assert response.status_code == 400
    assert "the conversation is empty" in response.json()["error"]["message"]


def _tool(schema: dict[str, Any], name: str = "t") -> dict[str, Any]:
    return {"name": name, "description": "a tool", "input_schema": schema}


PYDANTIC_SCHEMA = {
    "$defs": {
        "City": {
            "properties": {"name": {"title": "Name", "type": "string"}},
            "required": ["name"],
            "title": "City",
            "type": "object",
        }
    },
    "properties": {"city": {"$ref": "#/$defs/City"}},
    "required": ["city"],
    "type": "object",
}


@pytest.mark.parametrize(
    "choice", [{"type": "any"}, {"type": "tool", "name": "t"}, {"type": "auto"}]
)
def test_ref_and_defs_schemas_compile(server_url: str, choice: dict[str, Any]) -> None:
    body = _message(
        max_tokens=60, temperature=0, tools=[_tool(PYDANTIC_SCHEMA)], tool_choice=choice
    )
    response = _post(server_url, "/v1/messages", body)
    assert response.status_code == 200, response.text
    if choice["type"] != "auto":
        call = response.json()["content"][-1]
        assert call["type"] == "tool_use"
        assert isinstance(call["input"]["city"]["name"], str)


def test_ref_schemas_compile_under_openai_required(server_url: str) -> None:
    body = {
        "model": "gpt-4o",
        "max_tokens": 60,
        "messages": USER,
        "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "t", "parameters": PYDANTIC_SCHEMA}}],
    }
    response = _post(server_url, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["tool_calls"]


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}, "not"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}, "regex"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "missing"),
        (
            {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}},
            "example.com",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 1}},
                "required": ["a"],
            },
            "nsatisfiable",
        ),
        (_nested(400), "nested deeper than"),
    ],
    ids=["not", "bad-regex", "dangling-ref", "remote-ref", "unsatisfiable", "400-levels"],
)
def test_schemas_the_grammar_cannot_compile_are_400_naming_the_tool(
    server_url: str, schema: dict[str, Any], says: str
) -> None:
    tools = [_tool({"type": "object", "properties": {}}, "fine"), _tool(schema, "broken")]
    body = _message(max_tokens=30, tools=tools, tool_choice={"type": "any"})
    response = _post(server_url, "/v1/messages", body)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("tools[1] ('broken'): input_schema"), message
    assert says in message
    assert response.elapsed.total_seconds() < 10
