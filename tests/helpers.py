"""Shared test helpers: free ports, and a real Hypercorn server in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, timeout: float = 120.0, alive: Callable[[], bool] = lambda: True
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


@contextmanager
def serve_in_thread(app: ASGIApp, port: int, config: object | None = None) -> Iterator[str]:
    """Serve ``app`` with Hypercorn on 127.0.0.1:``port`` until the block exits."""
    from pensieve_server import ServerConfig, serve

    server_config = config if isinstance(config, ServerConfig) else ServerConfig(port=port)

    stop = threading.Event()

    async def trigger() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.05)

    thread = threading.Thread(
        target=lambda: asyncio.run(serve(app, server_config, shutdown_trigger=trigger)),
        daemon=True,
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, timeout=20)
    try:
        yield url
    finally:
        stop.set()
        thread.join(timeout=10)
