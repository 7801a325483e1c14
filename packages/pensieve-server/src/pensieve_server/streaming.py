"""Run a generation for a route: pull the first event before answering, clean up on disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import structlog
from starlette.types import Receive

from pensieve_core import Engine, Finished, GenerationEvent, GenerationRequest, PromptProgress
from pensieve_server.drain import Drain

log = structlog.get_logger()


@dataclass(slots=True)
class Generation:
    """One running generation and what the request log line needs."""

    stream: AsyncIterator[GenerationEvent]
    prompt_tokens: int
    started: float = field(default_factory=time.perf_counter)
    finished: Finished | None = None

    async def aclose(self) -> None:
        """Cancel the engine work if it is still running (a client went away)."""
        # The stream may be mid-step in a keep-alive task; that task's cancellation cleans up.
        with contextlib.suppress(RuntimeError):
            await self.stream.aclose()  # type: ignore[attr-defined]


async def start_generation(engine: Engine, request: GenerationRequest) -> Generation:
    """Submit ``request`` and wait for its first event.

    Errors the engine raises up front (context length, overload, bad content) surface here, before
    any response has been started, so they become proper HTTP errors.
    """
    stream = engine.generate(request)
    first = await anext(stream)
    prompt_tokens = first.total if isinstance(first, PromptProgress) else 0
    return Generation(_prepend(first, stream), prompt_tokens)


async def _prepend(
    first: GenerationEvent, rest: AsyncIterator[GenerationEvent]
) -> AsyncIterator[GenerationEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        with contextlib.suppress(RuntimeError):
            await rest.aclose()  # type: ignore[attr-defined]


async def collect(
    generation: Generation,
    add: Callable[[GenerationEvent], None],
    *,
    model: str,
    receive: Receive | None = None,
    drain: Drain | None = None,
) -> Finished | None:
    """Run a non-streaming generation to its end, folding each event into ``add``.

    With ``receive`` (the request's ASGI channel, body already read), a client that disconnects
    cancels the generation, as a stream's does: returns ``None`` then.
    """
    events = generation.stream if drain is None else drain.stream(generation.stream)

    async def consume() -> None:
        async for event in events:
            if isinstance(event, Finished):
                generation.finished = event
            else:
                add(event)

    consumer = asyncio.ensure_future(consume())
    watcher = asyncio.ensure_future(_disconnect(receive)) if receive is not None else None
    try:
        waiting = {consumer} if watcher is None else {consumer, watcher}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not consumer.done():
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            return None
        consumer.result()  # raise what the engine raised
    finally:
        if watcher is not None:
            watcher.cancel()
        if not consumer.done():
            consumer.cancel()
        await generation.aclose()
        log_generation(generation, model=model, status=200, stream=False)
    assert generation.finished is not None, "an engine stream ends with Finished"
    return generation.finished


async def _disconnect(receive: Receive) -> None:
    """Return once the client has gone away."""
    while (await receive())["type"] != "http.disconnect":
        pass


def log_generation(generation: Generation, *, model: str, status: int, stream: bool) -> None:
    """The one canonical line per generation request."""
    finished = generation.finished
    fields: dict[str, object] = {"model": model, "status": status, "stream": stream}
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
    fields["ms"] = round((time.perf_counter() - generation.started) * 1000, 1)
    log.info("request_finished", **fields)
