"""Real Pensieve server processes for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import free_port, wait_healthy

API_KEY = "test-key"


@contextmanager
def pensieve_server(log_dir: Path, *extra: str) -> Iterator[str]:
    """``pensieve start`` on a free loopback port with the embedded model; yields its URL."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
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
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # Each server records its PID in its own state directory, never in the user's.
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "PENSIEVE_STATE_DIR": str(log_dir / f"state-{port}"),
            },
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, timeout=300, alive=lambda: process.poll() is None)
        except TimeoutError:
            process.kill()
            raise RuntimeError(log.read_text()[-3000:]) from None
        try:
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
