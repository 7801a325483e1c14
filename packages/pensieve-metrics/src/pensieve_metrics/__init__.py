"""pensieve_metrics: measurement without living inside the engine.

``InstrumentedEngine`` wraps any ``pensieve_core.Engine`` and records each generation into a
``MetricsRegistry`` (prometheus-client), which also reads the engine's live gauges at scrape time.
"""

from pensieve_metrics.instrumented import InstrumentedEngine
from pensieve_metrics.registry import MetricsRegistry

__all__ = ("InstrumentedEngine", "MetricsRegistry")
