"""Workspace-wide fixtures."""

import pytest


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> str:
    return "asyncio"
