"""Web pages cannot drive a local server: DNS rebinding and cross-site requests are refused."""

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from tests.reliability.conftest import Report

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def _client(config: ServerConfig, engine: FakeEngine | None = None) -> httpx.AsyncClient:
    app = create_app(engine or FakeEngine(), config)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:7777"
    )


async def test_a_simple_cross_site_post_runs_nothing(report: Report) -> None:
    engine = FakeEngine()
    async with _client(ServerConfig(), engine) as client:
        # What a page can send without a CORS preflight: text/plain, from its own origin.
        response = await client.post(
            "/v1/messages",
            content=b'{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
            headers={"content-type": "text/plain", "origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "permission_error"
        no_origin = await client.post(
            "/v1/messages", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert no_origin.status_code == 400
        assert "content-type must be application/json" in no_origin.json()["error"]["message"]
    assert engine.requests == []
    report.add(
        "a web page's cross-site POST (text/plain, foreign Origin), DNS-rebinding Hosts",
        "403 permission_error / 400, and the engine received nothing",
    )


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7777", "192.168.1.5:7777"])
async def test_dns_rebinding_hosts_are_refused(host: str) -> None:
    async with _client(ServerConfig()) as client:
        response = await client.get("/health", headers={"host": host})
        assert response.status_code == 403
        assert "DNS rebinding" in response.json()["error"]["message"]
        assert (await client.get("/health", headers={"host": "localhost:7777"})).status_code == 200
        assert (await client.get("/health", headers={"host": "[::1]:7777"})).status_code == 200


async def test_configured_hosts_and_same_origin_are_served() -> None:
    config = ServerConfig(allowed_hosts=("pensieve.lan",))
    async with _client(config) as client:
        assert (
            await client.get("/health", headers={"host": "pensieve.lan:7777"})
        ).status_code == 200
        same = await client.post(
            "/v1/messages", json=BODY, headers={"origin": "http://127.0.0.1:7777"}
        )
        assert same.status_code == 200


async def test_cors_origins_get_a_proper_preflight_and_answers() -> None:
    config = ServerConfig(cors_origins=("https://app.example",))
    async with _client(config) as client:
        preflight = await client.options(
            "/v1/messages",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        answer = await client.post(
            "/v1/messages", json=BODY, headers={"origin": "https://app.example"}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.post(
            "/v1/messages", json=BODY, headers={"origin": "https://x.example"}
        )
        assert other.status_code == 403


async def test_public_bind_without_allowed_hosts_serves_any_host() -> None:
    config = ServerConfig(host="0.0.0.0", api_keys=("k",))
    async with _client(config) as client:
        response = await client.get("/health", headers={"host": "10.0.0.7:7777"})
        assert response.status_code == 200
