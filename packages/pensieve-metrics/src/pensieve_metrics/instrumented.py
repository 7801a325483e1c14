"""``InstrumentedEngine``: an Engine wrapper that measures what passes through it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pensieve_core import (
    Engine,
    EngineStats,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
)
from pensieve_metrics.registry import MetricsRegistry


class InstrumentedEngine:
    """Wraps any ``Engine``; the engine itself holds no metrics code."""

    def __init__(self, engine: Engine, metrics: MetricsRegistry) -> None:
        self.inner = engine
        self.metrics = metrics
        metrics.watch_engine(engine.stats)
        metrics.model_load.set(engine.info.load_time_s)

    @property
    def info(self) -> ModelInfo:
        """The wrapped engine's model."""
        return self.inner.info

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Passed through."""
        return await self.inner.count_tokens(request)

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """The wrapped stream, observed."""
        return self._observe(self.inner.generate(request))

    async def _observe(
        self, stream: AsyncIterator[GenerationEvent]
    ) -> AsyncIterator[GenerationEvent]:
        try:
            async for event in stream:
                if isinstance(event, Finished):
                    self.metrics.observe_generation(event)
                yield event
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    def stats(self) -> EngineStats:
        """Passed through."""
        return self.inner.stats()

    async def aclose(self) -> None:
        """Passed through."""
        await self.inner.aclose()
