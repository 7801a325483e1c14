"""Workspace-wide fixtures."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import pensieve_server

ROOT = Path(__file__).resolve().parents[1]
# The checkout's models/ (as `make` sets it): the embedded model is converted once for all tests.
os.environ.setdefault("PENSIEVE_MODELS_DIR", str(ROOT / "models"))
# Prefix snapshots a test's server writes go to a throwaway directory, never the user's cache.
os.environ.setdefault("PENSIEVE_CACHE_DIR", tempfile.mkdtemp(prefix="pensieve-test-cache-"))


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="server_url", scope="session")
def _server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server for the whole session (started on first use)."""
    with pensieve_server(tmp_path_factory.mktemp("server")) as url:
        yield url
