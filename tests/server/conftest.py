from collections.abc import AsyncIterator

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app


@pytest.fixture(name="engine")
def _engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(name="config")
def _config() -> ServerConfig:
    return ServerConfig(api_keys=("sk-test",), max_body_bytes=64 * 1024)


@pytest.fixture(name="client")
async def _client(engine: FakeEngine, config: ServerConfig) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers={"x-api-key": "sk-test"}
    ) as c:
        yield c
