"""``MLXGeneration``: the core ``Generation`` handle over one worker job."""

from __future__ import annotations

import asyncio
from typing import Final

from pensieve_core import Finished, GenerationEvent, GenerationHandle
from pensieve_mlx.jobs import Job
from pensieve_mlx.worker import Worker

_CLOSED: Final = object()
"""Queued by ``aclose`` so that a reader waiting on the queue wakes up and stops."""


class MLXGeneration(GenerationHandle):
    """Events of one job, handed from the worker thread to the request's event loop.

    The handle is its own event iterator: a class rather than an async generator, so that a
    cancelled ``__anext__`` (a keep-alive timeout) leaves the queue, and the stream, intact.
    """

    def __init__(self, job: Job, worker: Worker) -> None:
        self._job = job
        self._worker = worker
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[list[GenerationEvent] | BaseException | object] = asyncio.Queue()
        self._pending: list[GenerationEvent] = []
        self._ended = False
        job.emit = self._push

    def _push(self, item: list[GenerationEvent] | BaseException) -> None:
        """Called on the worker thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the rendered prompt."""
        return len(self._job.prompt.tokens)

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens the prefix cache served (set when the worker admits the job)."""
        return self._job.cached_tokens

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens this job adds to the prefix cache."""
        return self._job.cache_write_tokens

    async def __anext__(self) -> GenerationEvent:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            item = await self._queue.get()
            if item is _CLOSED:
                self._ended = True
            elif isinstance(item, BaseException):
                self._ended = True
                raise item
            elif isinstance(item, list):
                self._pending.extend(item)
        event = self._pending.pop(0)
        if isinstance(event, Finished):
            self._ended = True
            self._pending.clear()
        return event

    async def aclose(self) -> None:
        """Cancel the job if it still runs; wakes a reader waiting on the events."""
        if not self._job.done and not self._job.cancelled:
            self._worker.cancel(self._job)
        if not self._ended:
            self._queue.put_nowait(_CLOSED)
