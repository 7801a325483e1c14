"""Auth, body limits, info routes, request ids and malformed input."""

import random
import string

import httpx
import pytest

from pensieve_core import ConfigError
from pensieve_server import ServerConfig

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"x-api-key": "sk-test"}, 200, ""),
        ({"authorization": "Bearer sk-test"}, 200, ""),
        ({"x-api-key": "wrong"}, 401, "invalid x-api-key"),
        (
            {"authorization": "Bearer wrong"},
            401,
            "invalid API key in the Authorization: Bearer header",
        ),
        ({}, 401, "x-api-key header is required"),
        ({"x-api-key": ""}, 401, "x-api-key header is required"),
        ({"authorization": "Bearer "}, 401, "x-api-key header is required"),
    ],
)
async def test_auth(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, message: str
) -> None:
    client.headers.pop("x-api-key")
    response = await client.post("/v1/messages", json=BODY, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": message},
        }
        assert response.headers["request-id"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"authorization": "Bearer wrong"}, "invalid API key in the Authorization: Bearer header"),
        ({}, "missing API key: send it as an Authorization: Bearer header"),
    ],
)
async def test_openai_401_names_what_the_client_sent(
    client: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    client.headers.pop("x-api-key")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"] == message
    assert "x-api-key" not in error["message"]


@pytest.mark.parametrize("keys", [("",), ("  ",), ("good", "")])
def test_blank_api_keys_are_refused(keys: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="empty or blank"):
        ServerConfig(api_keys=keys, host="0.0.0.0")


async def test_health_and_root_need_no_auth(client: httpx.AsyncClient) -> None:
    client.headers.pop("x-api-key")
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["model"] == "fake-model"
    assert health.json()["uptime_s"] >= 0
    assert (await client.get("/")).status_code == 200
    assert (await client.head("/")).status_code == 200
    assert (await client.get("/v1/models")).status_code == 401


async def test_models(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    assert [m["id"] for m in listing["data"]] == ["fake-model", "local-model"]
    assert listing["has_more"] is False
    assert listing["object"] == "list"
    one = await client.get("/v1/models/claude-opus-5-5")
    assert one.json()["id"] == "claude-opus-5-5"
    assert (await client.get("/v1/models/gpt-4")).json()["id"] == "gpt-4"


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    wrong = await client.get("/v1/messages")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "error"


async def test_body_too_large(client: httpx.AsyncClient) -> None:
    huge = {**BODY, "messages": [{"role": "user", "content": "x" * 100_000}]}
    response = await client.post("/v1/messages", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def _malformed_bodies(n: int) -> list[bytes]:
    rng = random.Random(1234)
    base = [
        b"",
        b"{",
        b"null",
        b"[]",
        b'{"model": 1}',
        b'{"model": "claude", "messages": "nope", "max_tokens": 1}',
        b'{"model": "claude", "messages": [{}], "max_tokens": 1}',
        b'{"model": "claude", "messages": [{"role": "user"}], "max_tokens": 1}',
        b'{"model": "claude", "messages": [{"role": "user", "content": [{"type": "tool_result"}]}], "max_tokens": 1}',
        b'{"model": "claude", "messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}',
        b'{"model": "claude", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}',
        b'{"model": "claude", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "tools": [{"name": ""}]}',
        b'{"model": "claude", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "tool_choice": {"type": "magic"}}',
        b'{"model": "claude", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "stop_sequences": [1]}',
        b"\xff\xfe\x00garbage",
    ]
    bodies = list(base)
    while len(bodies) < n:
        kind = rng.randrange(3)
        if kind == 0:
            bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif kind == 1:
            junk = "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 60_000)))
            bodies.append(
                b'{"model": "claude", "max_tokens": 1, "messages": [{"role": "user", "content": '
                + junk.encode()
                + b"}]}"
            )
        else:
            cut = rng.randrange(1, 60)
            bodies.append(
                b'{"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}'[
                    :cut
                ]
            )
    return bodies[:n]


async def test_hundred_malformed_bodies_then_still_serving(client: httpx.AsyncClient) -> None:
    for body in _malformed_bodies(100):
        response = await client.post(
            "/v1/messages", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (response.status_code, body[:80])
        assert response.json()["type"] == "error"
    assert (await client.post("/v1/messages", json=BODY)).status_code == 200


def test_public_bind_needs_keys_or_opt_in() -> None:
    with pytest.raises(ConfigError, match="without API keys"):
        ServerConfig(host="0.0.0.0").check_binding()
    ServerConfig(host="0.0.0.0", api_keys=("k",)).check_binding()
    ServerConfig(host="0.0.0.0", allow_public=True).check_binding()
    ServerConfig(host="127.0.0.1").check_binding()
    ServerConfig(host="::1").check_binding()
