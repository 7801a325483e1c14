"""A cap on open connections, refused at once with a 503 in Anthropic's error shape.

Hypercorn has no connection limit and no hook per accepted connection: ``worker_serve`` builds a
``TCPServer`` for each one by its module-level name. ``installed`` swaps in a subclass that counts
connections for the duration of one ``serve`` and puts the name back afterwards. (Hand-written
because no option does it; the subclass only wraps ``run``.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
import structlog
from hypercorn.asyncio.tcp_server import TCPServer

from pensieve_api import ErrorDetail, ErrorResponse, encoder
from pensieve_server.errors import RETRY_AFTER_S

log = structlog.get_logger()


def refusal(limit: int) -> bytes:
    """The whole HTTP/1.1 answer a connection over the cap gets before it is closed."""
    body = encoder.encode(
        ErrorResponse(
            error=ErrorDetail(
                type="overloaded_error",
                message=f"too many open connections (server.max-connections = {limit})",
            )
        )
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"retry-after: {RETRY_AFTER_S}\r\n"
        "connection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class ConnectionLimit:
    """Counts open connections; those over ``limit`` are answered 503 and closed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Apply the limit to the connections Hypercorn accepts inside the block."""
        limit = self

        class LimitedTCPServer(TCPServer):
            async def run(self) -> None:
                if limit.open >= limit.limit:
                    limit.refused += 1
                    if limit.refused % 100 == 1:
                        log.warning("connection_refused", open=limit.open, refused=limit.refused)
                    with contextlib.suppress(OSError, RuntimeError):
                        self.writer.write(refusal(limit.limit))
                        await self.writer.drain()
                        self.writer.close()
                    return
                limit.open += 1
                try:
                    await super().run()
                finally:
                    limit.open -= 1

        # By name: the module imports TCPServer without re-exporting it.
        original: Any = getattr(hypercorn_run, "TCPServer")  # noqa: B009
        setattr(hypercorn_run, "TCPServer", LimitedTCPServer)  # noqa: B010
        try:
            yield
        finally:
            setattr(hypercorn_run, "TCPServer", original)  # noqa: B010
