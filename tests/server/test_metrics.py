"""Metrics over FakeEngine: counters follow requests and usage exactly."""

from collections.abc import AsyncIterator

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_metrics import InstrumentedEngine, MetricsRegistry
from pensieve_server import ServerConfig, create_app

pytestmark = pytest.mark.anyio

BODY = {
    "model": "claude-x",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "one two three"}],
}


@pytest.fixture(name="metered")
async def _metered() -> AsyncIterator[httpx.AsyncClient]:
    metrics = MetricsRegistry()
    app = create_app(InstrumentedEngine(FakeEngine(), metrics), ServerConfig(), observer=metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        yield client


def sample(text: str, name: str, default: float | None = None) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    if default is not None:
        return default
    raise AssertionError(f"{name} not exposed")


async def test_counters_follow_requests_and_usage(metered: httpx.AsyncClient) -> None:
    prompt = completion = 0
    for i in range(5):
        reply = (await metered.post("/v1/messages", json={**BODY, "stream": i % 2 == 0})).text
        if i % 2:
            usage = httpx.Response(200, content=reply).json()["usage"]
            prompt += usage["input_tokens"]
            completion += usage["output_tokens"]
    await metered.post("/v1/messages", json={"model": "claude-x"})  # a 400
    text = (await metered.get("/metrics")).text
    assert sample(text, 'pensieve_requests_total{route="/v1/messages",status="200"}') == 5
    assert sample(text, 'pensieve_requests_total{route="/v1/messages",status="400"}') == 1
    assert sample(text, "pensieve_prompt_tokens_total") == prompt * 5 / 2
    assert sample(text, "pensieve_generated_tokens_total") == completion * 5 / 2
    assert sample(text, 'pensieve_generations_total{model="fake-model",reason="stop"}') == 5
    assert sample(text, "pensieve_active_sequences") == 0
    assert sample(text, "pensieve_time_to_first_token_seconds_count") >= 0


async def test_metrics_need_auth_unless_public() -> None:
    metrics = MetricsRegistry()
    engine = InstrumentedEngine(FakeEngine(), metrics)
    for public, status in ((False, 401), (True, 200)):
        config = ServerConfig(api_keys=("k",), metrics_public=public)
        transport = httpx.ASGITransport(app=create_app(engine, config, observer=metrics))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            assert (await client.get("/metrics")).status_code == status
