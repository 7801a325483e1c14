"""``Observer``: what the server reports to a metrics registry, as a Protocol.

The server depends on this seam, not on ``pensieve_metrics``: the app passes in the registry,
which satisfies it.
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    """Receives request outcomes and serves the exposition."""

    def observe_request(self, route: str, status: int) -> None:
        """One HTTP request ended on ``route`` (a route template, or ``other``)."""
        ...

    def observe_cache_miss(self, reason: str) -> None:
        """A request did not reuse its conversation's cached prefix, for ``reason``."""
        ...

    def recent_decode_tokens_per_s(self, model: str | None = None) -> float:
        """Decode speed of recent generations, of ``model`` or of all (shown by ``/health``)."""
        ...

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of ``GET /metrics``."""
        ...
