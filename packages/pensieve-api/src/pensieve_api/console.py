"""The web console's JSON: live figures and the recent requests (``/v1/pensieve/...``)."""

from __future__ import annotations

from typing import Any

from pensieve_api._base import WireOut


class ConsoleStats(WireOut):
    """``GET /v1/pensieve/stats``: the figures ``/metrics`` exposes, summed over loaded models.

    Totals count since the server started; the console charts them against time.
    """

    time: float
    """When the figures were read (Unix seconds)."""
    uptime_s: float
    requests: int
    """Generation requests answered (Messages and chat completions)."""
    prompt_tokens: int
    """Prompt tokens, cached included."""
    cached_tokens: int
    """Prompt tokens read from the prefix cache."""
    output_tokens: int
    decode_tokens_per_s: float
    """Mean decode speed of the last 20 generations (0 before any)."""
    ttft_s: float
    """Mean time to first token of the last 20 generations."""
    active_sequences: int
    queued_requests: int
    prefix_cache_hits: int
    prefix_cache_lookups: int
    prefix_cache_hit_rate: float
    prefix_cache_bytes: int
    active_memory_bytes: int
    """The process's accelerator (or MLX CPU) memory in use."""
    peak_memory_bytes: int
    cache_memory_bytes: int
    model_bytes: int
    """Weights of the loaded models."""


class RequestRow(WireOut):
    """One recent generation request, as the console's table shows it."""

    id: str
    """The ``request-id`` the response carried."""
    time: float
    """When it arrived (Unix seconds)."""
    route: str
    model: str
    """The name the client asked for."""
    stream: bool
    status: int
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    ttft_ms: float
    duration_ms: float
    finish_reason: str
    """The engine's (``stop``, ``length``, ``tool_use``...), or ``error`` / ``disconnected``."""
    cache_miss_reason: str | None = None
    """Why the prompt cache missed against the conversation's previous turn (Anthropic only)."""


class RequestList(WireOut):
    """``GET /v1/pensieve/requests``: the recent requests, newest first."""

    data: list[RequestRow]
    capacity: int
    """How many the server keeps (``server.recent-requests``)."""


class RequestDetail(RequestRow):
    """``GET /v1/pensieve/requests/{id}``: a row with its request's redacted shape."""

    shape: dict[str, Any] | None = None
    """The request body's structure: keys, roles, block types, tool names, numbers; every other
    string is replaced by its length (``"<12 chars>"``), so no prompt text is kept."""
