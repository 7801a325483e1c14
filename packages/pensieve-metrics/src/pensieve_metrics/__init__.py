"""pensieve_metrics: Metrics: wraps a pensieve_core.Engine to measure it, and exposes a Prometheus registry."""

__all__: tuple[str, ...] = ()
