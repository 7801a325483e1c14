"""Reliability tests: the real server (``server_url``) and the HTTP layer over a FakeEngine."""

from collections.abc import AsyncIterator

import httpx
import pytest

from pensieve_core.testing import FakeEngine
from pensieve_server import ServerConfig, create_app
from tests.servers import API_KEY

__all__ = ["API_KEY"]


@pytest.fixture(name="fake_client")
async def _fake_client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(FakeEngine(), ServerConfig())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:7777"
    ) as client:
        yield client
