"""Serve an ASGI app with Hypercorn until a shutdown trigger fires."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from starlette.types import ASGIApp

from pensieve_server.config import ServerConfig


def hypercorn_config(config: ServerConfig) -> HypercornConfig:
    """Hypercorn settings for ``config``."""
    hc = HypercornConfig()
    host = (
        f"[{config.host}]"
        if ":" in config.host and not config.host.startswith("[")
        else config.host
    )
    hc.bind = [f"{host}:{config.port}"]
    hc.graceful_timeout = config.graceful_timeout_s
    hc.keep_alive_timeout = 75
    hc.accesslog = None
    hc.errorlog = "-"
    return hc


async def serve(
    app: ASGIApp,
    config: ServerConfig,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until ``shutdown_trigger`` returns (default: SIGINT or SIGTERM)."""
    config.check_binding()
    if shutdown_trigger is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def wait_for_signal() -> None:
            await stop.wait()

        shutdown_trigger = wait_for_signal
    await hypercorn_serve(app, hypercorn_config(config), shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
