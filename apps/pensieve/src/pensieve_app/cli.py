"""The ``pensieve`` console script: the CLI built around the application launcher."""

from __future__ import annotations

from importlib.metadata import version

from pensieve_app.launcher import AppLauncher
from pensieve_app.logging import configure_logging
from pensieve_cli import build_cli


def main() -> None:
    """Entry point of the ``pensieve`` command."""
    configure_logging("warning")  # `start` raises it to the configured level
    build_cli(AppLauncher(), version=version("pensieve-app"))()
