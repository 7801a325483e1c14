"""Server-sent events: framing, and waiting on a stream while sending keep-alive pings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pensieve_api import encoder

T = TypeVar("T")

PING = object()
"""Yielded by ``with_keepalive`` when the stream was idle for one interval."""


def frame(event: str, payload: Any) -> bytes:
    """``event: NAME`` + ``data: JSON`` + blank line."""
    return b"event: " + event.encode() + b"\ndata: " + encoder.encode(payload) + b"\n\n"


def data_frame(payload: Any) -> bytes:
    """An unnamed ``data:`` frame (OpenAI style)."""
    return b"data: " + encoder.encode(payload) + b"\n\n"


async def with_keepalive(stream: AsyncIterator[T], interval: float) -> AsyncIterator[T | object]:
    """Yield from ``stream``; yield ``PING`` whenever it stays silent for ``interval`` seconds.

    The pending ``anext`` is awaited through a task and never cancelled on a timeout, since
    cancelling it would close the underlying generator.
    """
    pending: asyncio.Task[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield PING
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
