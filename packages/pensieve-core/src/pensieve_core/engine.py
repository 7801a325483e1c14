"""The Engine protocol: the one seam between the HTTP layers and whatever runs the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from pensieve_core.generation import GenerationEvent, GenerationRequest
from pensieve_core.models import EngineStats, ModelInfo


@runtime_checkable
class Generation(Protocol):
    """One running generation, as ``Engine.start`` hands it back.

    Used as an async context manager: leaving it closes the generation, which cancels the
    engine's work if it is still running and frees its slot.
    """

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the rendered prompt."""
        ...

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens served from the prefix cache (known once the first event arrives)."""
        ...

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens this request adds to the prefix cache (known with ``cached_tokens``)."""
        ...

    def events(self) -> AsyncIterator[GenerationEvent]:
        """The generation's events, in order, ending with ``Finished``.

        The iterator ends early, without ``Finished``, once ``aclose`` was called (from any task).
        Its ``__anext__`` may be cancelled (a timeout, a keep-alive) without losing an event.
        """
        ...

    async def aclose(self) -> None:
        """Cancel the work if it still runs; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class GenerationHandle:
    """What every ``Generation`` shares: it is its own event iterator and closes on exit.

    Subclasses give ``__anext__`` (cancel-safe: a class, not an async generator, so a cancelled
    wait loses nothing), ``aclose``, ``prompt_tokens`` and ``cached_tokens``.
    """

    def events(self) -> Self:
        """The events, in order (see ``Generation.events``)."""
        return self

    def __aiter__(self) -> Self:
        return self

    async def aclose(self) -> None:
        """Cancel the work if it still runs; idempotent."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@runtime_checkable
class Engine(Protocol):
    """Runs chat completions for one loaded model."""

    @property
    def info(self) -> ModelInfo:
        """The loaded model."""
        ...

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the prompt exactly as ``start`` would render it."""
        ...

    async def start(self, request: GenerationRequest) -> Generation:
        """Render and submit ``request``; the handle streams its events.

        Every refusal is raised here, before a response can have started:

        Raises:
            ContextLengthExceededError: the prompt does not fit.
            OverloadedError: the queue is full.
            InvalidRequestError: the request contradicts itself or the model.
        """
        ...

    def stats(self) -> EngineStats:
        """Live figures: queue depth, active sequences, cache and memory."""
        ...

    async def aclose(self) -> None:
        """Stop accepting work, finish or cancel what is running, and release resources."""
        ...
