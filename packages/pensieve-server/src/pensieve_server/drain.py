"""Shutdown: in-flight requests get the grace period, then end in their own dialect.

Hypercorn cancels what is still running when its graceful timeout expires, which cuts a stream
mid-event and logs ``CancelledError`` tracebacks. Instead the app cuts first, a moment before
Hypercorn would: streams send an in-band ``error`` event, waiting requests answer 529 with
``retry-after``, and nothing is left for Hypercorn to cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from pensieve_core import OverloadedError

T = TypeVar("T")

MARGIN_S = 1.0
"""How long before Hypercorn's own timeout the app ends its requests."""


class ShuttingDownError(OverloadedError):
    """The server is stopping: the request was cut at the end of the grace period."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry against a running server")


class Drain:
    """Set once the server stops; ``cut`` fires when in-flight requests must end."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.cut = asyncio.Event()

    async def begin(self, grace_s: float) -> None:
        """Start draining: cut what still runs after ``grace_s`` (minus a margin)."""
        self.stopping.set()
        await asyncio.sleep(max(0.0, grace_s - MARGIN_S))
        self.cut.set()

    async def until_cut(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, raising ``ShuttingDownError`` if the cut comes first."""
        work = asyncio.ensure_future(awaitable)
        if self.cut.is_set():
            work.cancel()
            raise ShuttingDownError
        cut = asyncio.ensure_future(self.cut.wait())
        try:
            done, _ = await asyncio.wait({work, cut}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The caller went away (a client disconnected): the work goes with it, at once, so
            # the engine frees the slot now rather than after the answer's last token.
            work.cancel()
            raise
        finally:
            cut.cancel()
        if work not in done:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise ShuttingDownError
        return work.result()

    async def stream(self, items: AsyncIterator[T]) -> AsyncIterator[T]:
        """Yield from ``items`` until they end or the cut comes (then ``ShuttingDownError``)."""
        while True:
            try:
                item = await self.until_cut(anext(items))
            except StopAsyncIteration:
                return
            yield item
