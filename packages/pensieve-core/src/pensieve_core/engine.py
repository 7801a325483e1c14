"""The Engine protocol: the one seam between the HTTP layers and whatever runs the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from pensieve_core.generation import GenerationEvent, GenerationRequest
from pensieve_core.models import EngineStats, ModelInfo


@runtime_checkable
class Engine(Protocol):
    """Runs chat completions for one loaded model.

    ``generate`` returns an async iterator of events that always ends with ``Finished`` unless it
    raises. Closing the iterator early (``aclose``) cancels the generation and frees its slot.
    """

    @property
    def info(self) -> ModelInfo:
        """The loaded model."""
        ...

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the prompt exactly as ``generate`` would render it."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Start a generation and stream its events.

        Raises:
            ContextLengthExceededError: the prompt does not fit (before any work is done).
            OverloadedError: the queue is full.
        """
        ...

    def stats(self) -> EngineStats:
        """Live figures: queue depth, active sequences, cache and memory."""
        ...

    async def aclose(self) -> None:
        """Stop accepting work, finish or cancel what is running, and release resources."""
        ...
