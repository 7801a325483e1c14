"""``InstrumentedEngine``: an Engine wrapper that measures what passes through it."""

from __future__ import annotations

from pensieve_core import (
    Engine,
    EngineStats,
    Finished,
    Generation,
    GenerationEvent,
    GenerationHandle,
    GenerationRequest,
    ModelInfo,
)
from pensieve_metrics.registry import MetricsRegistry


class InstrumentedEngine:
    """Wraps any ``Engine``; the engine itself holds no metrics code."""

    def __init__(self, engine: Engine, metrics: MetricsRegistry, model: str | None = None) -> None:
        self.inner = engine
        self.metrics = metrics
        self.model = model or engine.info.id
        """The served name its metrics are labelled with."""
        metrics.watch_engine(self.model, engine.stats)
        metrics.model_load.labels(model=self.model).set(engine.info.load_time_s)

    @property
    def info(self) -> ModelInfo:
        """The wrapped engine's model."""
        return self.inner.info

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Passed through."""
        return await self.inner.count_tokens(request)

    async def start(self, request: GenerationRequest) -> InstrumentedGeneration:
        """The wrapped generation, observed."""
        return InstrumentedGeneration(await self.inner.start(request), self.metrics, self.model)

    def stats(self) -> EngineStats:
        """Passed through."""
        return self.inner.stats()

    async def aclose(self) -> None:
        """Closes the engine; its live gauges go."""
        self.metrics.unwatch_engine(self.model)
        await self.inner.aclose()


class InstrumentedGeneration(GenerationHandle):
    """A ``Generation`` whose ``Finished`` event is recorded on its way through.

    A class, not an async generator, so that a cancelled ``__anext__`` does not end the stream
    (the ``Generation`` contract).
    """

    def __init__(self, inner: Generation, metrics: MetricsRegistry, model: str) -> None:
        self.inner = inner
        self._events = inner.events()
        self._metrics = metrics
        self._model = model

    @property
    def prompt_tokens(self) -> int:
        """Passed through."""
        return self.inner.prompt_tokens

    @property
    def cached_tokens(self) -> int:
        """Passed through."""
        return self.inner.cached_tokens

    @property
    def cache_write_tokens(self) -> int:
        """The inner generation's cache writes."""
        return self.inner.cache_write_tokens

    async def __anext__(self) -> GenerationEvent:
        event = await anext(self._events)
        if isinstance(event, Finished):
            self._metrics.observe_generation(event, self._model)
        return event

    async def aclose(self) -> None:
        """Passed through."""
        await self.inner.aclose()
