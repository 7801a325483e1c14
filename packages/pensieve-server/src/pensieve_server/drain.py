"""Shutdown: in-flight requests get the grace period, then end in their own dialect.

Hypercorn cancels what is still running when its graceful timeout expires, which cuts a stream
mid-event and logs ``CancelledError`` tracebacks. Instead the app cuts first, a moment before
Hypercorn would: it closes every running generation, whose stream then sends an in-band
``error`` event (or, not yet answered, a 529 with ``retry-after``), so nothing is left for
Hypercorn to cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from pensieve_core import Generation, OverloadedError

MARGIN_S = 1.0
"""How long before Hypercorn's own timeout the app ends its requests."""


class ShuttingDownError(OverloadedError):
    """The server is stopping: the request was cut at the end of the grace period."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry against a running server")


class Drain:
    """Set once the server stops; at the cut, running generations are closed."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.cut = asyncio.Event()
        self._running: set[Generation] = set()

    async def begin(self, grace_s: float) -> None:
        """Start draining: cut what still runs after ``grace_s`` (minus a margin)."""
        self.stopping.set()
        await asyncio.sleep(max(0.0, grace_s - MARGIN_S))
        self.cut.set()
        for generation in list(self._running):
            await generation.aclose()

    @contextlib.contextmanager
    def track(self, generation: Generation) -> Iterator[None]:
        """Register ``generation`` while it runs, so that the cut can close it."""
        self.check()
        self._running.add(generation)
        try:
            yield
        finally:
            self._running.discard(generation)

    def check(self) -> None:
        """Raise ``ShuttingDownError`` once the cut has come."""
        if self.cut.is_set():
            raise ShuttingDownError
