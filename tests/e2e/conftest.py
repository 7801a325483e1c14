"""A real Pensieve server process on 127.0.0.1 serving the embedded model."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_healthy

API_KEY = "test-key"


@pytest.fixture(name="server_url", scope="session")
def _server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pensieve_app",
                "start",
                "--port",
                str(port),
                "--api-key",
                API_KEY,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, timeout=300)
        except TimeoutError:
            process.kill()
            raise RuntimeError(Path(log).read_text()[-3000:]) from None
        yield url
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
