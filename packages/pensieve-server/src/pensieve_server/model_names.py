"""Which requested model names reach the served model."""

from __future__ import annotations

from collections.abc import Sequence

from pensieve_core import ModelNameError


class ModelNames:
    """Any ``claude-*`` name, the served model's own name and the configured aliases."""

    def __init__(self, served: str, aliases: Sequence[str]) -> None:
        self.served = served
        self._accepted = {served, *aliases}

    def check(self, requested: str) -> None:
        """Raise ``ModelNameError`` unless ``requested`` reaches the served model."""
        if requested.startswith("claude") or requested in self._accepted:
            return
        raise ModelNameError(
            f"model {requested!r} not found: this server serves {self.served!r} "
            f"(also reachable as any claude-* name or {sorted(self._accepted - {self.served})})",
            model=requested,
        )

    def known(self) -> list[str]:
        """Names to list in ``/v1/models``."""
        return [self.served, *sorted(self._accepted - {self.served})]
