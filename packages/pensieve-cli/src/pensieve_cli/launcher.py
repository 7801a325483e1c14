"""The port the CLI needs from the application: the CLI defines it, the app implements it.

Keeping heavy work behind this protocol is what lets ``pensieve --help`` start without MLX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``pensieve start`` asks the application to serve."""

    model: str | None = None
    """A model reference; ``None`` means the configured (or embedded default) model."""
    host: str = "127.0.0.1"
    port: int = 7777
    api_keys: tuple[str, ...] = ()
    allow_public: bool = False
    """Bind beyond loopback without API keys (an explicit opt-in)."""


class Launcher(Protocol):
    """Runs the heavy commands on the CLI's behalf."""

    def serve(self, options: ServeOptions) -> None:
        """Load the model and serve until interrupted."""
        ...
