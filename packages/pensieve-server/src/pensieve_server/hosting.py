"""Serve an ASGI app with Hypercorn until a shutdown trigger fires."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from starlette.types import ASGIApp

from pensieve_core import ListenError
from pensieve_server.config import ServerConfig
from pensieve_server.connections import ConnectionLimit
from pensieve_server.drain import Drain


def bind_socket(config: ServerConfig) -> socket.socket:
    """Bind the server's address now, so that a port in use fails before a model loads.

    The socket is bound but not listening: clients are refused (not left hanging) until
    ``serve`` starts accepting on it.

    Raises:
        ListenError: the address cannot be bound (in use, not permitted, not local).
    """
    host = config.host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise ListenError(config.host, config.port, str(e.strerror), in_use=False) from e
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        in_use = e.errno == errno.EADDRINUSE
        reason = "address in use" if in_use else (e.strerror or str(e)).lower()
        raise ListenError(config.host, config.port, reason, in_use=in_use) from e
    return sock


def bound_address(sock: socket.socket) -> tuple[str, int]:
    """The host and port a socket is bound to (the real port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def hypercorn_config(config: ServerConfig, sock: socket.socket | None = None) -> HypercornConfig:
    """Hypercorn settings for ``config`` (serving on ``sock`` when given)."""
    hc = HypercornConfig()
    if sock is not None:
        # Hypercorn owns the descriptor from here on: detach it so only one object closes it.
        hc.bind = [f"fd://{sock.detach()}"]
    else:
        host = (
            f"[{config.host}]"
            if ":" in config.host and not config.host.startswith("[")
            else config.host
        )
        hc.bind = [f"{host}:{config.port}"]
    hc.graceful_timeout = config.graceful_timeout_s
    # Closes idle keep-alive connections, and those that have not sent a whole request head yet
    # (Hypercorn's idle timer runs from accept until the head is complete: slowloris included).
    hc.keep_alive_timeout = config.keep_alive_timeout_s
    hc.accesslog = None  # requests are logged by RequestContextMiddleware
    # A Logger object, not "-": Hypercorn would install its own handler and line format.
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


async def serve(
    app: ASGIApp,
    config: ServerConfig,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    *,
    sock: socket.socket | None = None,
    drain: Drain | None = None,
) -> None:
    """Serve until ``shutdown_trigger`` returns (default: SIGINT or SIGTERM).

    ``sock`` is a socket from ``bind_socket``; without one, Hypercorn binds ``config``'s address.
    With ``drain`` (``drain_of(app)``), requests still running at the end of the grace period end
    in-band instead of being cancelled.
    """
    config.check_binding()
    if shutdown_trigger is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def wait_for_signal() -> None:
            await stop.wait()

        shutdown_trigger = wait_for_signal
    trigger = shutdown_trigger
    tasks: set[asyncio.Task[None]] = set()

    async def draining_trigger() -> None:
        await trigger()
        if drain is not None:
            task = asyncio.ensure_future(drain.begin(config.graceful_timeout_s))
            tasks.add(task)  # held: the loop keeps only weak references to tasks

    with ConnectionLimit(config.max_connections).installed():
        await hypercorn_serve(
            cast(Any, app),  # Hypercorn's own ASGI type names the same callable protocol
            hypercorn_config(config, sock),
            shutdown_trigger=draining_trigger,
        )
