"""Run a generation to its response: the one stream loop and the one non-streaming loop.

Both dialects go through ``stream`` (with their own ``StreamCodec``) or ``collect``: pings on
idle streams, errors after the first byte reported in-band, the drain's cut, client
disconnects, the log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Protocol

import structlog
from starlette.types import Receive

from pensieve_core import Finished, Generation, GenerationEvent, OverloadedError
from pensieve_server.drain import Drain
from pensieve_server.errors import ErrorKind, classify
from pensieve_server.recent import Tracked

log = structlog.get_logger()


class StreamCodec(Protocol):
    """One dialect's server-sent events for one response."""

    def opening(self) -> list[bytes]:
        """Frames sent before the first event."""
        ...

    def encode(self, event: GenerationEvent) -> list[bytes]:
        """Frames for one event (``Finished`` included)."""
        ...

    def closing(self) -> list[bytes]:
        """Frames after ``Finished``."""
        ...

    def ping(self) -> bytes:
        """A keep-alive frame, sent when the stream stays idle."""
        ...

    def waiting(self) -> bytes:
        """A keep-alive frame before the response opens (its model is still loading)."""
        ...

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The in-band error frame."""
        ...


Start = Callable[[], Awaitable[Generation]]
"""Starts a generation that cannot start yet (its model is loading): pings flow meanwhile."""


async def stream(
    generation: Generation | Start,
    codec: StreamCodec,
    *,
    model: str,
    ping_s: float,
    drain: Drain,
    tracked: Tracked | None = None,
) -> AsyncIterator[bytes]:
    """The response body of a streaming request; the generation is closed when it ends.

    ``generation`` may be a ``Start``: the stream opens with pings while it runs (a model
    loading on demand), and a refusal it raises is reported in-band. ``tracked`` gets the
    ``Finished`` event.
    """
    started = time.perf_counter()
    ended: list[Finished] = []
    try:
        # aclosing: a client that goes away closes these at once (its slot is freed then).
        if not isinstance(generation, Generation):
            ready: list[Generation] = []
            async with aclosing(_pinging(generation, codec, ping_s, ready)) as pings:
                async for frame in pings:
                    yield frame
            generation = ready[0]
        async with aclosing(_frames(generation, codec, ping_s, drain, ended)) as frames:
            async for frame in frames:
                yield frame
    except Exception as e:  # the stream has started: report in-band, as both APIs do
        status, kind, message = classify(e)
        if status >= 500 and not isinstance(e, OverloadedError):
            log.error("stream_failed", exc_info=e)
        yield codec.error(kind, message)
    finally:
        if tracked is not None and ended:
            tracked.finished = ended[0]
        log_generation(ended[0] if ended else None, started, model=model, stream=True)


async def _frames(
    generation: Generation,
    codec: StreamCodec,
    ping_s: float,
    drain: Drain,
    ended: list[Finished],
) -> AsyncGenerator[bytes]:
    """The generation's frames, pings on idle; its ``Finished`` goes into ``ended``."""
    async with generation:
        with drain.track(generation):
            for frame in codec.opening():
                yield frame
            events = generation.events()
            while not ended:
                # The Generation contract makes a cancelled __anext__ safe: no task per event.
                idle = asyncio.timeout(ping_s)
                try:
                    async with idle:
                        event = await anext(events)
                except TimeoutError:
                    if not idle.expired():
                        raise
                    yield codec.ping()
                    continue
                except StopAsyncIteration:
                    drain.check()  # closed at the cut; otherwise the client closed it
                    return
                if isinstance(event, Finished):
                    ended.append(event)
                for frame in codec.encode(event):
                    yield frame
            for frame in codec.closing():
                yield frame


async def _pinging(
    start: Start, codec: StreamCodec, ping_s: float, ready: list[Generation]
) -> AsyncGenerator[bytes]:
    """Pings until ``start`` has started the generation, which then goes into ``ready``."""
    starting = asyncio.ensure_future(start())
    try:
        while not (await asyncio.wait({starting}, timeout=ping_s))[0]:
            yield codec.waiting()
    finally:
        if not starting.done():  # the client went away while the model loaded
            starting.cancel()
    ready.append(starting.result())


async def collect(
    generation: Generation,
    add: Callable[[GenerationEvent], None],
    *,
    model: str,
    receive: Receive,
    drain: Drain,
    tracked: Tracked | None = None,
) -> Finished | None:
    """Run a non-streaming generation to its end, folding each event into ``add``.

    ``receive`` is the request's ASGI channel (body already read): a client that disconnects
    closes the generation, as a stream's does, and ``None`` comes back. ``tracked`` gets the
    ``Finished`` event.
    """
    started = time.perf_counter()
    finished: Finished | None = None
    try:
        async with generation:
            with drain.track(generation):
                watcher = asyncio.ensure_future(_close_on_disconnect(receive, generation))
                try:
                    async for event in generation.events():
                        if isinstance(event, Finished):
                            finished = event
                            return finished
                        add(event)
                finally:
                    watcher.cancel()
            drain.check()  # closed at the cut; otherwise the client went away
            return None
    finally:
        if tracked is not None:
            tracked.finished = finished
        log_generation(finished, started, model=model, stream=False)


async def _close_on_disconnect(receive: Receive, generation: Generation) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    await generation.aclose()


def log_generation(finished: Finished | None, started: float, *, model: str, stream: bool) -> None:
    """The one canonical line per generation request."""
    fields: dict[str, object] = {"model": model, "status": 200, "stream": stream}
    if finished is not None:
        fields.update(
            prompt_tokens=finished.usage.prompt_tokens,
            cached_tokens=finished.usage.cached_tokens,
            completion_tokens=finished.usage.completion_tokens,
            ttft_ms=round(finished.timings.ttft_s * 1000, 1),
            tokens_per_s=round(finished.timings.decode_tokens_per_s, 1),
            finish_reason=finished.reason,
        )
    else:
        fields["finish_reason"] = "disconnected"
    fields["ms"] = round((time.perf_counter() - started) * 1000, 1)
    log.info("request_finished", **fields)
