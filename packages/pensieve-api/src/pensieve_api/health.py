"""Pensieve's own ``GET /health`` body, shared by the server and ``pensieve status``."""

from __future__ import annotations

import msgspec

from pensieve_api._base import WireOut


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


health_decoder = msgspec.json.Decoder(HealthResponse)
"""Decodes a ``/health`` body (``pensieve status``, ``--detach`` waiting for the server)."""
