"""The HTTP layer's own guarantees, over a fake engine: request ids, retry-after, no tracebacks."""

import httpx
import pytest
from structlog.testing import capture_logs

from pensieve_core import GenerationRequest
from pensieve_core.testing import FakeEngine, FakeGeneration
from pensieve_server import ServerConfig, create_app

pytestmark = pytest.mark.anyio

BODY = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def _client(engine: FakeEngine, config: ServerConfig | None = None) -> httpx.AsyncClient:
    app = create_app(engine, config or ServerConfig())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def test_a_500_carries_the_request_id_and_is_logged_once() -> None:
    class Broken(FakeEngine):
        async def start(self, request: GenerationRequest) -> FakeGeneration:
            raise KeyError("engine bug")

    async with _client(Broken()) as client:
        import structlog

        structlog.reset_defaults()
        with capture_logs() as logs:
            response = await client.post("/v1/messages", json=BODY)
    assert response.status_code == 500
    assert response.headers["request-id"].startswith("req_")
    assert response.json() == {
        "type": "error",
        "error": {"type": "api_error", "message": "internal server error"},
    }
    assert [e["event"] for e in logs].count("request_failed") == 1


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
async def test_overload_carries_retry_after(path: str) -> None:
    body = BODY if path == "/v1/messages" else {**BODY, "model": "gpt-4o"}
    async with _client(FakeEngine(overloaded=True)) as client:
        response = await client.post(path, json=body)
    assert response.status_code == 529
    assert response.headers["retry-after"] == "2"
    assert response.headers["request-id"]
