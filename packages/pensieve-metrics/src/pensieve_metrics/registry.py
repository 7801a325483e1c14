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
    """Reads each loaded engine's live figures at scrape time, labelled by model."""

    def __init__(self) -> None:
        self.engines: dict[str, Callable[[], EngineStats]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshots = [(model, stats()) for model, stats in list(self.engines.items())]
        for name, doc, value in _GAUGES:
            family = GaugeMetricFamily(name, doc, labels=["model"])
            for model, s in snapshots:
                family.add_metric([model], value(s))
            yield family


def _hit_ratio(s: EngineStats) -> float:
    return s.prefix_cache_hits / s.prefix_cache_lookups if s.prefix_cache_lookups else 0.0


_GAUGES: tuple[tuple[str, str, Callable[[EngineStats], float]], ...] = (
    ("pensieve_queue_depth", "Requests waiting for a slot.", lambda s: s.queued_requests),
    ("pensieve_active_sequences", "Sequences in the decode batch.", lambda s: s.active_sequences),
    ("pensieve_prefix_cache_hit_ratio", "Prefix-cache hits per lookup.", _hit_ratio),
    (
        "pensieve_prefix_cache_hits",
        "Prefix-cache lookups that reused a prefix.",
        lambda s: s.prefix_cache_hits,
    ),
    ("pensieve_prefix_cache_lookups", "Prefix-cache lookups.", lambda s: s.prefix_cache_lookups),
    (
        "pensieve_prefix_cache_bytes",
        "Bytes held by the prefix cache.",
        lambda s: s.prefix_cache_bytes,
    ),
    (
        "pensieve_prefix_cache_entries",
        "Prompts held by the prefix cache.",
        lambda s: s.prefix_cache_entries,
    ),
    (
        "pensieve_memory_active_bytes",
        "Accelerator (or MLX CPU) memory in use (the process's, the same for every model).",
        lambda s: s.active_memory_bytes,
    ),
    (
        "pensieve_memory_peak_bytes",
        "Peak accelerator (or MLX CPU) memory (the process's).",
        lambda s: s.peak_memory_bytes,
    ),
    (
        "pensieve_memory_cache_bytes",
        "Freed buffers MLX keeps for reuse (its buffer cache; the process's).",
        lambda s: s.cache_memory_bytes,
    ),
    ("pensieve_memory_model_bytes", "The weights as loaded.", lambda s: s.model_bytes),
    (
        "pensieve_speculation_drafted_tokens",
        "Tokens speculation drafted and the model checked.",
        lambda s: s.drafted_tokens,
    ),
    (
        "pensieve_speculation_accepted_tokens",
        "Drafted tokens the model agreed with.",
        lambda s: s.accepted_draft_tokens,
    ),
)


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
            "pensieve_generations",
            "Finished generations by reason.",
            ["model", "reason"],
            registry=r,
        )
        self.prompt_tokens = Counter(
            "pensieve_prompt_tokens", "Prompt tokens (cached included).", ["model"], registry=r
        )
        self.cached_tokens = Counter(
            "pensieve_cached_tokens",
            "Prompt tokens served from the prefix cache.",
            ["model"],
            registry=r,
        )
        self.generated_tokens = Counter(
            "pensieve_generated_tokens", "Generated tokens.", ["model"], registry=r
        )
        self.ttft = Histogram(
            "pensieve_time_to_first_token_seconds",
            "Time to first token.",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.decode_rate = Histogram(
            "pensieve_decode_tokens_per_second",
            "Per-request decode speed.",
            ["model"],
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
            "pensieve_model_load_seconds",
            "Time the model took to load (the last time).",
            ["model"],
            registry=r,
        )
        self._engines = _EngineCollector()
        r.register(self._engines)
        self._recent_rates: dict[str, deque[float]] = {}

    def watch_engine(self, model: str, stats: Callable[[], EngineStats]) -> None:
        """Expose ``model``'s live gauges (queue, batch, cache, memory) while it is loaded."""
        self._engines.engines[model] = stats
        # Its counters and histograms show from the start, at zero, not from the first request.
        for metric in (
            self.prompt_tokens,
            self.cached_tokens,
            self.generated_tokens,
            self.ttft,
            self.decode_rate,
        ):
            metric.labels(model=model)

    def unwatch_engine(self, model: str) -> None:
        """``model`` was unloaded: its gauges go (its counters stay)."""
        self._engines.engines.pop(model, None)

    def observe_request(self, route: str, status: int) -> None:
        """Count one HTTP request."""
        self.requests.labels(route=route, status=str(status)).inc()

    def observe_generation(self, finished: Finished, model: str) -> None:
        """Record one finished generation of ``model``."""
        usage, timings = finished.usage, finished.timings
        self.generations.labels(model=model, reason=finished.reason).inc()
        self.prompt_tokens.labels(model=model).inc(usage.prompt_tokens)
        self.cached_tokens.labels(model=model).inc(usage.cached_tokens)
        self.generated_tokens.labels(model=model).inc(usage.completion_tokens)
        if timings.ttft_s > 0:
            self.ttft.labels(model=model).observe(timings.ttft_s)
        if timings.decode_tokens_per_s > 0:
            self.decode_rate.labels(model=model).observe(timings.decode_tokens_per_s)
            rates = self._recent_rates.setdefault(model, deque(maxlen=20))
            rates.append(timings.decode_tokens_per_s)

    def observe_cache_miss(self, reason: str) -> None:
        """Count one prompt-cache miss (``tools_changed``, ``system_changed``...)."""
        self.cache_misses.labels(reason=reason).inc()

    def recent_decode_tokens_per_s(self, model: str | None = None) -> float:
        """Mean decode speed of ``model``'s last 20 requests, or all models' (0 before any)."""
        rates = [
            r for name, kept in self._recent_rates.items() if model in (None, name) for r in kept
        ]
        return sum(rates) / len(rates) if rates else 0.0

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
