"""Workspace-wide fixtures."""

from collections.abc import Iterator

import pytest

from tests.servers import pensieve_server


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="server_url", scope="session")
def _server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server for the whole session (started on first use)."""
    with pensieve_server(tmp_path_factory.mktemp("server")) as url:
        yield url
