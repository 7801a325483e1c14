"""Pensieve's own ``GET /health`` body, shared by the server and ``pensieve status``."""

from __future__ import annotations

import msgspec

from pensieve_api._base import WireOut


class ModelHealth(WireOut):
    """One served model: where it stands and what it does."""

    name: str
    state: str
    """``loaded``, ``loading`` or ``unloaded``."""
    default: bool
    fast: bool
    aliases: list[str]
    routes: list[str]
    """Name patterns routed to it (``*haiku*``)."""
    requests: int
    active_sequences: int
    queued_requests: int
    model_bytes: int
    idle_s: float
    context_length: int = 0
    decode_tokens_per_s: float = 0.0


class RankHealth(WireOut):
    """One process of a model served over several (``--ranks``, ``--distributed``)."""

    rank: int
    host: str
    pid: int
    active_memory_bytes: int
    peak_memory_bytes: int
    alive: bool


class HealthResponse(WireOut):
    """Liveness, what is served, and live figures."""

    status: str
    name: str
    pid: int
    model: str
    context_length: int
    device: str
    precision: str
    uptime_s: float
    requests_served: int
    active_sequences: int
    queued_requests: int
    prefix_cache_hit_rate: float
    active_memory_bytes: int
    peak_memory_bytes: int
    cache_memory_bytes: int
    model_bytes: int
    prefix_cache_bytes: int
    prefix_cache_entries: int
    decode_tokens_per_s: float
    models: list[ModelHealth] = msgspec.field(default_factory=list)
    """Every served model (the fields above are the default model's)."""
    group: str = ""
    """How the default model is split over processes (empty: one process)."""
    ranks: list[RankHealth] = msgspec.field(default_factory=list)
    error: str = ""
    """Why the server cannot serve (``status`` is then ``unavailable``)."""
    warming_up: bool = False
    """The default model's start-up work has yet to complete: it runs while idle, requests first."""


health_decoder = msgspec.json.Decoder(HealthResponse)
"""Decodes a ``/health`` body (``pensieve status``, ``--detach`` waiting for the server)."""
