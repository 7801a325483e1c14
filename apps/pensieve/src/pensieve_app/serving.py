"""The served models of ``pensieve start``: each reference resolved, its engine built on demand.

Every reference is resolved at start (a bad one fails there, in one line); the models are loaded
in order while they fit ``server.max-loaded-models`` and ``server.memory-budget-gib``, and the
rest when a request first names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pensieve_app.config import ModelEntry, engine_config_for

if TYPE_CHECKING:
    from pensieve_core import Engine
    from pensieve_loader import ModelStore, ResolvedModel
    from pensieve_metrics import MetricsRegistry
    from pensieve_mlx import MLXEngineConfig, ServedModel
    from pensieve_server import ServedModels, ServerConfig


@dataclass(frozen=True, slots=True)
class Planned:
    """One served model before it is loaded."""

    entry: ModelEntry
    name: str
    resolved: ResolvedModel
    config: MLXEngineConfig

    @property
    def served(self) -> ServedModel:
        """What its engine is told about it."""
        from pensieve_mlx import ServedModel

        summary = self.resolved.summary
        return ServedModel(
            name=self.name,
            path=summary.path,
            context_length=summary.context_length,
            supports_tools=summary.supports_tools,
        )

    def builder(self, metrics: MetricsRegistry, group: Any = None) -> Callable[[], Engine]:
        """Loads its engine (``group``: as rank 0 of it), measured under its served name."""
        from pensieve_metrics import InstrumentedEngine

        served = self.served

        def build() -> Engine:
            # MLX alone: the weights are read during the engine's imports (read_ahead.py).
            from pensieve_mlx.read_ahead import read_ahead

            read = read_ahead(served.path, self.config.precision) if group is None else None
            from pensieve_mlx import MLXEngine

            engine = MLXEngine.load(served, self.config, group=group, read=read)
            return InstrumentedEngine(engine, metrics, self.name)

        return build

    @property
    def size_bytes(self) -> int:
        """Its weights on disk (what the budget counts before the first load)."""
        return sum(f.stat().st_size for f in self.resolved.path.glob("*.safetensors"))


def plan(entries: list[ModelEntry], store: ModelStore, base: MLXEngineConfig) -> list[Planned]:
    """Resolve every entry (the default first)."""
    planned: list[Planned] = []
    for i, entry in enumerate(entries):
        resolved = store.resolve(entry.model or None)
        where = "model" if i == 0 else f"models[{i - 1}]"
        config = engine_config_for(base, entry, where)
        if config.draft_model:  # any name --model takes, resolved the same way
            draft = store.resolve(config.draft_model).summary.path
            config = replace(config, draft_model=str(draft))
        planned.append(Planned(entry, entry.name or resolved.name, resolved, config))
    return planned


def served_models(
    planned: list[Planned], config: ServerConfig, metrics: MetricsRegistry, *, group: Any = None
) -> ServedModels:
    """The router and pool over ``planned``, loading what fits now.

    ``group``: the one model is served as rank 0 of that distributed group.
    """
    from pensieve_server import Limits, ModelSpec, ServedModels

    specs = [
        ModelSpec(
            p.name,
            load=p.builder(metrics, group),
            fast=p.entry.is_fast,
            aliases=p.entry.aliases,
            size_bytes=p.size_bytes,
        )
        for p in planned
    ]
    limits = Limits(
        max_loaded=config.max_loaded_models,
        memory_budget_bytes=int(config.memory_budget_gib * 2**30),
        keep_alive_s=config.model_keep_alive_s,
    )
    routes = [rule.split("=", 1) for rule in config.model_routes]  # PATTERN=NAME, checked
    # Made first: a bad route or a repeated name fails before anything is loaded.
    models = ServedModels(
        specs,
        routes=[(pattern, target) for pattern, target in routes],
        aliases=config.model_aliases,
        strict=config.strict_model_names,
        limits=limits,
    )
    loaded, used = 0, 0
    for spec in specs:
        full = limits.max_loaded and loaded >= limits.max_loaded
        over = limits.memory_budget_bytes and used + spec.size_bytes > limits.memory_budget_bytes
        if loaded and (full or over):
            continue  # loaded when a request names it
        engine = spec.load()
        models.adopt(spec.name, engine)
        loaded, used = loaded + 1, used + engine.stats().model_bytes
    return models
