"""The Prometheus registry: request, token, latency, cache, memory and load metrics."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pensieve_core import EngineStats, Finished

_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
_RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class _EngineCollector(Collector):
    """Reads the engine's live figures at scrape time."""

    def __init__(self, stats: Callable[[], EngineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self._stats()
        ratio = s.prefix_cache_hits / s.prefix_cache_lookups if s.prefix_cache_lookups else 0.0
        for name, doc, value in (
            ("pensieve_queue_depth", "Requests waiting for a slot.", s.queued_requests),
            ("pensieve_active_sequences", "Sequences in the decode batch.", s.active_sequences),
            ("pensieve_prefix_cache_hit_ratio", "Prefix-cache hits per lookup.", ratio),
            (
                "pensieve_prefix_cache_hits",
                "Prefix-cache lookups that reused a prefix.",
                s.prefix_cache_hits,
            ),
            ("pensieve_prefix_cache_lookups", "Prefix-cache lookups.", s.prefix_cache_lookups),
            (
                "pensieve_prefix_cache_bytes",
                "Bytes held by the prefix cache.",
                s.prefix_cache_bytes,
            ),
            (
                "pensieve_prefix_cache_entries",
                "Prompts held by the prefix cache.",
                s.prefix_cache_entries,
            ),
            (
                "pensieve_memory_active_bytes",
                "Accelerator (or MLX CPU) memory in use.",
                s.active_memory_bytes,
            ),
            (
                "pensieve_memory_peak_bytes",
                "Peak accelerator (or MLX CPU) memory.",
                s.peak_memory_bytes,
            ),
            (
                "pensieve_memory_cache_bytes",
                "Freed buffers MLX keeps for reuse (its buffer cache).",
                s.cache_memory_bytes,
            ),
            ("pensieve_memory_model_bytes", "The weights as loaded.", s.model_bytes),
            (
                "pensieve_speculation_drafted_tokens",
                "Tokens speculation drafted and the model checked.",
                s.drafted_tokens,
            ),
            (
                "pensieve_speculation_accepted_tokens",
                "Drafted tokens the model agreed with.",
                s.accepted_draft_tokens,
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class MetricsRegistry:
    """Every metric Pensieve exposes, in its own ``CollectorRegistry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pensieve_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.generations = Counter(
            "pensieve_generations", "Finished generations by reason.", ["reason"], registry=r
        )
        self.prompt_tokens = Counter(
            "pensieve_prompt_tokens", "Prompt tokens (cached included).", registry=r
        )
        self.cached_tokens = Counter(
            "pensieve_cached_tokens", "Prompt tokens served from the prefix cache.", registry=r
        )
        self.generated_tokens = Counter(
            "pensieve_generated_tokens", "Generated tokens.", registry=r
        )
        self.ttft = Histogram(
            "pensieve_time_to_first_token_seconds",
            "Time to first token.",
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.decode_rate = Histogram(
            "pensieve_decode_tokens_per_second",
            "Per-request decode speed.",
            buckets=_RATE_BUCKETS,
            registry=r,
        )
        self.cache_misses = Counter(
            "pensieve_prefix_cache_misses",
            "Requests that did not reuse their conversation's cached prefix, by reason.",
            ["reason"],
            registry=r,
        )
        self.model_load = Gauge(
            "pensieve_model_load_seconds", "Time the model took to load.", registry=r
        )
        self._recent_rates: deque[float] = deque(maxlen=20)

    def watch_engine(self, stats: Callable[[], EngineStats]) -> None:
        """Expose the engine's live gauges (queue, batch, cache, memory)."""
        self.registry.register(_EngineCollector(stats))

    def observe_request(self, route: str, status: int) -> None:
        """Count one HTTP request."""
        self.requests.labels(route=route, status=str(status)).inc()

    def observe_generation(self, finished: Finished) -> None:
        """Record one finished generation."""
        usage, timings = finished.usage, finished.timings
        self.generations.labels(reason=finished.reason).inc()
        self.prompt_tokens.inc(usage.prompt_tokens)
        self.cached_tokens.inc(usage.cached_tokens)
        self.generated_tokens.inc(usage.completion_tokens)
        if timings.ttft_s > 0:
            self.ttft.observe(timings.ttft_s)
        if timings.decode_tokens_per_s > 0:
            self.decode_rate.observe(timings.decode_tokens_per_s)
            self._recent_rates.append(timings.decode_tokens_per_s)

    def observe_cache_miss(self, reason: str) -> None:
        """Count one prompt-cache miss (``tools_changed``, ``system_changed``...)."""
        self.cache_misses.labels(reason=reason).inc()

    def recent_decode_tokens_per_s(self) -> float:
        """Mean decode speed of the last 20 requests (0 before any)."""
        return sum(self._recent_rates) / len(self._recent_rates) if self._recent_rates else 0.0

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
