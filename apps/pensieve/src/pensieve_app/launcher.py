"""The application's implementation of the CLI's ``Launcher`` port."""

from __future__ import annotations

import click

from pensieve_cli import ServeOptions


class AppLauncher:
    """Builds the engine, wraps it and serves it. Heavy imports happen inside the methods."""

    def serve(self, options: ServeOptions) -> None:
        """Serve until interrupted."""
        raise click.ClickException(
            "no engine is wired yet: the model loader and the MLX engine land in later issues"
        )
