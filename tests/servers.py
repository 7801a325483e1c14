"""Real Pensieve server processes for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port, wait_healthy

API_KEY = "test-key"


@dataclass(frozen=True, slots=True)
class Server:
    """A running ``pensieve start`` process."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_server(log_dir: Path, *args: str) -> Iterator[Server]:
    """``pensieve start ARGS`` on a free port with the embedded model, until the block exits."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pensieve_app", "start", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            # Each server records its PID in its own state directory, never in the user's.
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "PENSIEVE_STATE_DIR": str(log_dir / f"state-{port}"),
                "PENSIEVE_CACHE_DIR": str(log_dir / f"cache-{port}"),
            },
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=300, alive=lambda: process.poll() is None)
    except TimeoutError:
        process.kill()
        raise RuntimeError(log.read_text()[-3000:]) from None
    try:
        yield Server(url, port, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def pensieve_server(log_dir: Path, *extra: str) -> Iterator[str]:
    """A server that requires ``API_KEY``; yields its URL."""
    with running_server(log_dir, "--api-key", API_KEY, *extra) as server:
        yield server.url


def failed_start(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pensieve start ARGS``, expected to fail before it serves: its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "pensieve_app", "start", "--port", str(free_port()), *args],
        env={**os.environ, "PENSIEVE_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
