"""The recent requests the console lists, and the running totals its charts read.

Each generation request gets a ``Tracked`` entry when its body has been read; the stream or the
collect loop adds its ``Finished`` event, the Anthropic wing its cache-miss reason, and
``RequestContextMiddleware`` closes it with the status and duration once the response is sent.
The rows live in a bounded ring (``server.recent-requests``), in memory only.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.types import Scope

from pensieve_api import RequestDetail, RequestRow
from pensieve_core import Finished
from pensieve_server.redact import request_shape

_RECENT_RATES = 20
"""Generations the decode-speed and TTFT means cover (as ``/health``'s decode speed)."""


@dataclass(slots=True)
class Tracked:
    """One generation request while it runs."""

    model: str
    stream: bool
    shape: dict[str, Any] | None
    time: float = field(default_factory=time.time)
    finished: Finished | None = None
    cache_miss_reason: str | None = None

    def row(self, rid: str, route: str, status: int, duration_s: float) -> RequestRow:
        """The request's row, once its response has been sent."""
        usage = self.finished.usage if self.finished is not None else None
        timings = self.finished.timings if self.finished is not None else None
        if self.finished is not None:
            reason: str = self.finished.reason
        else:
            reason = "error" if status >= 400 else "disconnected"
        return RequestRow(
            id=rid,
            time=self.time,
            route=route,
            model=self.model,
            stream=self.stream,
            status=status,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            cached_tokens=usage.cached_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            ttft_ms=round(timings.ttft_s * 1000, 1) if timings else 0.0,
            duration_ms=round(duration_s * 1000, 1),
            finish_reason=reason,
            cache_miss_reason=self.cache_miss_reason,
        )


@dataclass(slots=True)
class Totals:
    """What every finished generation adds up to, since the server started."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    rates: deque[float] = field(default_factory=lambda: deque(maxlen=_RECENT_RATES))
    ttfts: deque[float] = field(default_factory=lambda: deque(maxlen=_RECENT_RATES))

    def add(self, finished: Finished) -> None:
        """Count one finished generation."""
        usage, timings = finished.usage, finished.timings
        self.requests += 1
        self.prompt_tokens += usage.prompt_tokens
        self.cached_tokens += usage.cached_tokens
        self.output_tokens += usage.completion_tokens
        if timings.decode_tokens_per_s > 0:
            self.rates.append(timings.decode_tokens_per_s)
        if timings.ttft_s > 0:
            self.ttfts.append(timings.ttft_s)

    @property
    def decode_tokens_per_s(self) -> float:
        """Mean decode speed of the recent generations (0 before any)."""
        return sum(self.rates) / len(self.rates) if self.rates else 0.0

    @property
    def ttft_s(self) -> float:
        """Mean time to first token of the recent generations (0 before any)."""
        return sum(self.ttfts) / len(self.ttfts) if self.ttfts else 0.0


_SCOPE_KEY = "tracked"


class RecentRequests:
    """The last ``capacity`` generation requests (event loop only), and the totals."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: deque[tuple[RequestRow, dict[str, Any] | None]] = deque(maxlen=capacity)
        self.totals = Totals()

    def track(self, request: Request, body: msgspec.Struct, *, model: str, stream: bool) -> Tracked:
        """Start tracking ``request`` (its decoded ``body``); the middleware closes the entry."""
        # The shape costs a walk over the body: skipped when no rows are kept.
        shape = request_shape(body) if self.capacity else None
        entry = Tracked(model=model, stream=stream, shape=shape)
        request.scope.setdefault("state", {})[_SCOPE_KEY] = entry
        return entry

    def close(self, scope: Scope, rid: str, route: str, status: int, duration_s: float) -> None:
        """Record the request ``scope`` carries an entry for (others are not generations)."""
        entry = scope.get("state", {}).get(_SCOPE_KEY)
        if not isinstance(entry, Tracked):
            return
        if entry.finished is not None:
            self.totals.add(entry.finished)
        if self.capacity:
            self._rows.append((entry.row(rid, route, status, duration_s), entry.shape))

    def rows(self) -> list[RequestRow]:
        """The kept rows, newest first."""
        return [row for row, _ in reversed(self._rows)]

    def get(self, rid: str) -> RequestDetail | None:
        """One kept row with its request's shape, by request id."""
        for row, shape in self._rows:
            if row.id == rid:
                return RequestDetail(**msgspec.structs.asdict(row), shape=shape)
        return None
