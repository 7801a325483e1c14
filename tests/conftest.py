"""Workspace-wide fixtures."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import pensieve_server

ROOT = Path(__file__).resolve().parents[1]
# The checkout's models/ (as `make` sets it): the embedded model is converted once for all tests.
os.environ.setdefault("PENSIEVE_MODELS_DIR", str(ROOT / "models"))
# Prefix snapshots a test's server writes go to a throwaway directory, never the user's cache.
if "PENSIEVE_CACHE_DIR" not in os.environ:
    os.environ["PENSIEVE_CACHE_DIR"] = tempfile.mkdtemp(prefix="pensieve-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PENSIEVE_CACHE_DIR"], ignore_errors=True)
# Dequantized weights once for every server the session starts (each has its own cache dir).
os.environ.setdefault(
    "PENSIEVE_ENGINE_WEIGHTS_CACHE_DIR", str(Path(os.environ["PENSIEVE_CACHE_DIR"]) / "weights")
)


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="server_url", scope="session")
def _server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server for the whole session (started on first use)."""
    with pensieve_server(tmp_path_factory.mktemp("server")) as url:
        yield url
