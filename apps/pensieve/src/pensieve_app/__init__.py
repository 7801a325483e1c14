"""pensieve_app: the composition root.

The only package that imports every layer: it loads configuration, configures structlog, builds
the MLX engine, wraps it in metrics, hands it to the server, and owns the ``pensieve`` command.
"""

from pensieve_app.cli import main

__all__ = ("main",)
