"""Run a generation to its response: the one stream loop and the one non-streaming loop.

Both dialects go through ``stream`` (with their own ``StreamCodec``) or ``collect``: pings on
idle streams, errors after the first byte reported in-band, the drain's cut, client
disconnects, the log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import structlog
from starlette.types import Receive

from pensieve_core import Finished, Generation, GenerationEvent, OverloadedError
from pensieve_server.drain import Drain
from pensieve_server.errors import ErrorKind, classify

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

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The in-band error frame."""
        ...


async def stream(
    generation: Generation, codec: StreamCodec, *, model: str, ping_s: float, drain: Drain
) -> AsyncIterator[bytes]:
    """The response body of a streaming request; the generation is closed when it ends."""
    started = time.perf_counter()
    finished: Finished | None = None
    try:
        async with generation:
            with drain.track(generation):
                for frame in codec.opening():
                    yield frame
                events = generation.events()
                while finished is None:
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
                        finished = event
                    for frame in codec.encode(event):
                        yield frame
                for frame in codec.closing():
                    yield frame
    except Exception as e:  # the stream has started: report in-band, as both APIs do
        status, kind, message = classify(e)
        if status >= 500 and not isinstance(e, OverloadedError):
            log.error("stream_failed", exc_info=e)
        yield codec.error(kind, message)
    finally:
        log_generation(finished, started, model=model, stream=True)


async def collect(
    generation: Generation,
    add: Callable[[GenerationEvent], None],
    *,
    model: str,
    receive: Receive,
    drain: Drain,
) -> Finished | None:
    """Run a non-streaming generation to its end, folding each event into ``add``.

    ``receive`` is the request's ASGI channel (body already read): a client that disconnects
    closes the generation, as a stream's does, and ``None`` comes back.
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
