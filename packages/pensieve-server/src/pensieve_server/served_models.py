"""The models a server serves: which requested name reaches which, and which are loaded.

Claude Code sends its main loop to one model and subagents and background work to the "haiku"
tier, so a server may serve a big main model and a small fast one. Each served model has its own
engine (worker, batch, prefix cache). A model is loaded on first use when it is not (requests
for it wait for the load, sharing it), and unloaded when it stays idle past the keep-alive or
when another needs its room under the limits; a model with requests in flight is never unloaded.

With one served model, any requested name reaches it (as llama.cpp's server does): Claude Code
sends ``claude-*`` names and OpenAI clients keep defaults like ``gpt-4o``, and refusing those
breaks them on their first request. ``strict`` keeps Anthropic's 404 for names that are not a
served name, an alias, a route's pattern or ``claude-*``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from pensieve_core import (
    ConfigError,
    Engine,
    EngineStats,
    InvalidRequestError,
    ModelInfo,
    ModelNameError,
    OverloadedError,
)

log = structlog.get_logger()

FAST = "fast"
"""A route's target meaning the model marked fast (the route is skipped when there is none)."""
DEFAULT_ROUTES = (("*haiku*", FAST),)
"""Claude Code's haiku tier (subagents, titles, summaries) goes to the fast model."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One served model, as the app describes it."""

    name: str
    load: Callable[[], Engine]
    """Builds its engine (blocking: run in a thread)."""
    fast: bool = False
    """The fast model: the target of the ``fast`` routes (haiku)."""
    aliases: tuple[str, ...] = ()
    size_bytes: int = 0
    """What it takes in memory before it has been loaded once (0: unknown)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """When models are unloaded."""

    max_loaded: int = 0
    """Most models loaded at once (0: no limit)."""
    memory_budget_bytes: int = 0
    """Most bytes of weights loaded at once (0: no limit)."""
    keep_alive_s: float = 0.0
    """An idle model is unloaded after this long (0: kept loaded)."""


@dataclass(slots=True)
class _Slot:
    spec: ModelSpec
    engine: Engine | None = None
    loading: asyncio.Task[Engine] | None = None
    busy: int = 0
    """Requests between routing and the engine's admission (not yet in its stats)."""
    last_used: float = field(default_factory=time.monotonic)
    requests: int = 0
    size_bytes: int = 0
    info: ModelInfo | None = None
    """The model as last loaded (kept while it is unloaded)."""

    @property
    def in_use(self) -> bool:
        if self.busy or self.loading is not None:
            return True
        if self.engine is None:
            return False
        stats = self.engine.stats()
        return stats.active_sequences > 0 or stats.queued_requests > 0


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """One served model's row in ``pensieve status`` and ``GET /v1/pensieve/models``."""

    name: str
    default: bool
    fast: bool
    state: str
    """``loaded``, ``loading`` or ``unloaded``."""
    aliases: tuple[str, ...]
    routes: tuple[str, ...]
    """The patterns routed to it."""
    requests: int
    active_sequences: int
    queued_requests: int
    model_bytes: int
    idle_s: float


class ServedModels:
    """Routes requested names to served models and keeps them loaded (event loop only)."""

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        *,
        engines: dict[str, Engine] | None = None,
        routes: Sequence[tuple[str, str]] = DEFAULT_ROUTES,
        aliases: Sequence[str] = (),
        strict: bool = False,
        limits: Limits | None = None,
    ) -> None:
        if not specs:
            raise ConfigError("a server serves at least one model")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"served model names repeat: {names}; give each a name (NAME=REF)")
        self._slots = {s.name: _Slot(s, size_bytes=s.size_bytes) for s in specs}
        for name, engine in (engines or {}).items():
            self.adopt(name, engine)
        self.default = specs[0].name
        self.fast = next((s.name for s in specs if s.fast), None)
        self._aliases = dict.fromkeys(aliases, self.default) | {
            a: s.name for s in specs for a in s.aliases
        }
        self._routes: list[tuple[str, str]] = []
        for pattern, target in routes:
            served = self.fast if target == FAST else target
            if served is not None:  # a `fast` route without a fast model is skipped
                self._routes.append((pattern.lower(), served))
        for _, target in self._routes:
            if target not in self._slots:
                raise ConfigError(
                    f"server.model-routes: a route names {target!r}, which is not served ({names})",
                    key="server.model-routes",
                )
        self.strict = strict
        self.limits = limits or Limits()
        self._seen: set[str] = set()

    # --- routing ----------------------------------------------------------------------------

    def route(self, requested: str) -> str:
        """The served model ``requested`` reaches, or ``ModelNameError``."""
        served = self._match(requested)
        if served is None:
            if self.strict and not requested.startswith("claude"):
                known = sorted({*self._slots, *self._aliases})
                raise ModelNameError(
                    f"model {requested!r} not found: this server serves {known} (and any "
                    "claude-* name)",
                    model=requested,
                )
            served = self.default
        if requested not in self._seen and len(self._seen) < 1000:
            # Once per name: which model answers it, without a line per request.
            self._seen.add(requested)
            log.info("model_name_routed", requested=requested, served=served)
        return served

    def find(self, name: str) -> str:
        """The served model ``name`` names (a served name, alias or pattern; no default).

        Raises:
            ModelNameError: nothing served is called that.
        """
        served = self._match(name)
        if served is None:
            known = sorted({*self._slots, *self._aliases})
            raise ModelNameError(f"model {name!r} is not served here ({known})", model=name)
        return served

    def _match(self, requested: str) -> str | None:
        if requested in self._slots:
            return requested
        if requested in self._aliases:
            return self._aliases[requested]
        lowered = requested.lower()
        for pattern, target in self._routes:
            if fnmatch.fnmatchcase(lowered, pattern):
                return target
        return None

    def names(self) -> list[tuple[str, str]]:
        """``(name, served)`` for every name ``/v1/models`` lists: models, aliases, patterns."""
        listed = [(name, name) for name in self._slots]
        listed += sorted(self._aliases.items())
        listed += [(pattern, target) for pattern, target in self._routes]
        return listed

    # --- engines ----------------------------------------------------------------------------

    @asynccontextmanager
    async def engine(self, requested: str) -> AsyncIterator[Engine]:
        """The engine for ``requested``, loaded if need be; it stays loaded inside the block.

        Start the request inside the block: once admitted, the engine's own figures keep it
        from being unloaded.
        """
        slot = self._slots[self.route(requested)]
        slot.busy += 1
        try:
            engine = await self._loaded(slot)
            slot.requests += 1
            yield engine
        finally:
            slot.busy -= 1
            slot.last_used = time.monotonic()

    def adopt(self, name: str, engine: Engine) -> None:
        """``name``'s engine, loaded already (at start, before the event loop runs)."""
        slot = self._slots[name]
        slot.engine, slot.info = engine, engine.info
        slot.size_bytes = engine.stats().model_bytes or slot.size_bytes
        slot.last_used = time.monotonic()

    def ready(self, requested: str) -> bool:
        """Whether the model ``requested`` reaches is loaded (``ModelNameError`` as ``route``)."""
        return self._slots[self.route(requested)].engine is not None

    def default_engine(self) -> Engine | None:
        """The default model's engine, when it is loaded."""
        return self._slots[self.default].engine

    def loaded_stats(self) -> list[EngineStats]:
        """The live figures of every loaded model's engine."""
        return [s.engine.stats() for s in self._slots.values() if s.engine is not None]

    def info(self, name: str) -> ModelInfo | None:
        """A served model as last loaded (None: never loaded)."""
        return self._slots[name].info

    async def load(self, name: str) -> Engine:
        """Load ``name`` (a served name, alias or pattern) now."""
        return await self._loaded(self._slots[self.find(name)])

    async def unload(self, name: str) -> bool:
        """Unload ``name``; False when it was not loaded.

        Raises:
            InvalidRequestError: it has requests in flight.
        """
        slot = self._slots[self.find(name)]
        if slot.in_use:
            raise InvalidRequestError(
                f"model {slot.spec.name!r} has requests in flight; it is unloaded when they end"
            )
        return await self._unload(slot, why="asked")

    async def reap(self) -> list[str]:
        """Unload the models idle past the keep-alive; their names."""
        keep = self.limits.keep_alive_s
        if keep <= 0:
            return []
        now = time.monotonic()
        idle = [
            s
            for s in self._slots.values()
            if s.engine is not None and not s.in_use and now - s.last_used >= keep
        ]
        for slot in idle:
            await self._unload(slot, why="idle")
        return [s.spec.name for s in idle]

    async def run_reaper(self) -> None:
        """Reap every few seconds, forever (the app's lifespan runs it)."""
        keep = self.limits.keep_alive_s
        if keep <= 0:
            return
        while True:
            await asyncio.sleep(min(max(keep / 4, 0.25), 5.0))
            await self.reap()

    async def aclose(self) -> None:
        """Unload every model (the server stops)."""
        for slot in self._slots.values():
            if slot.loading is not None:
                slot.loading.cancel()
            await self._unload(slot, why="shutdown")

    def status(self) -> list[ModelStatus]:
        """Every served model's row."""
        now = time.monotonic()
        rows = []
        for name, slot in self._slots.items():
            stats = slot.engine.stats() if slot.engine is not None else None
            state = "loaded" if slot.engine else "loading" if slot.loading else "unloaded"
            rows.append(
                ModelStatus(
                    name=name,
                    default=name == self.default,
                    fast=name == self.fast,
                    state=state,
                    aliases=tuple(a for a, t in sorted(self._aliases.items()) if t == name),
                    routes=tuple(p for p, t in self._routes if t == name),
                    requests=slot.requests,
                    active_sequences=stats.active_sequences if stats else 0,
                    queued_requests=stats.queued_requests if stats else 0,
                    model_bytes=stats.model_bytes if stats else 0,
                    idle_s=round(now - slot.last_used, 1) if not slot.in_use else 0.0,
                )
            )
        return rows

    # --- loading ----------------------------------------------------------------------------

    async def _loaded(self, slot: _Slot) -> Engine:
        if slot.engine is not None:
            return slot.engine
        if slot.loading is None:
            await self._make_room(slot)
            slot.loading = asyncio.create_task(self._load(slot))
        # Shielded: a request that goes away does not cancel the load others wait for.
        return await asyncio.shield(slot.loading)

    async def _load(self, slot: _Slot) -> Engine:
        started = time.perf_counter()
        log.info("model_loading", model=slot.spec.name)
        try:
            engine = await asyncio.to_thread(slot.spec.load)
        finally:
            slot.loading = None
        self.adopt(slot.spec.name, engine)
        log.info(
            "model_loaded_on_demand",
            model=slot.spec.name,
            seconds=round(time.perf_counter() - started, 2),
        )
        return engine

    async def _make_room(self, slot: _Slot) -> None:
        """Unload idle models, least recently used first, until ``slot`` fits the limits."""

        def fits() -> bool:
            others = [s for s in self._slots.values() if s is not slot and s.engine is not None]
            limits = self.limits
            if limits.max_loaded and len(others) + 1 > limits.max_loaded:
                return False
            if limits.memory_budget_bytes:
                used = sum(s.size_bytes for s in others) + slot.size_bytes
                return used <= limits.memory_budget_bytes
            return True

        candidates = sorted(
            (s for s in self._slots.values() if s is not slot and s.engine is not None),
            key=lambda s: s.last_used,
        )
        for other in candidates:
            if fits():
                return
            if not other.in_use:
                await self._unload(other, why="room")
        if not fits():
            busy = [s.spec.name for s in candidates if s.engine is not None]
            raise OverloadedError(
                f"model {slot.spec.name!r} does not fit beside the loaded models {busy}, which "
                "have requests in flight (server.max-loaded-models / server.memory-budget)"
            )

    async def _unload(self, slot: _Slot, *, why: str) -> bool:
        engine, slot.engine = slot.engine, None
        if engine is None:
            return False
        await engine.aclose()
        log.info("model_unloaded", model=slot.spec.name, why=why)
        return True
