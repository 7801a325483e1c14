"""structlog configuration: the one place in Pensieve that configures logging."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "info", *, json: bool | None = None) -> None:
    """Console output on a terminal, JSON lines otherwise."""
    use_json = not sys.stderr.isatty() if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if use_json:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: a logger bound at import would keep this configuration when it changes
        # later (the CLI's tests, structlog's capture_logs); a lookup per line costs microseconds
        # and Pensieve logs per request, not per token.
        cache_logger_on_first_use=False,
    )
    # Hypercorn logs through the standard library: render it with the same processors.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    for name in ("hypercorn.error", "hypercorn.access"):
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.setLevel(level.upper())
        std.propagate = False
