"""Which requested model names reach the served model."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from pensieve_core import ModelNameError


class ModelNames:
    """With one served model, any requested name reaches it (as llama.cpp's server does).

    Claude Code sends ``claude-*`` names or whatever ``--model`` / ``ANTHROPIC_MODEL`` say, and
    OpenAI clients keep defaults like ``gpt-4o``: refusing those breaks them on their first
    request. ``strict`` keeps Anthropic's 404 for names other than ``claude-*``, the served name
    and the aliases.
    """

    def __init__(self, served: str, aliases: Sequence[str], *, strict: bool = False) -> None:
        self.served = served
        self.strict = strict
        self._accepted = {served, *aliases}
        self._seen: set[str] = set()

    def check(self, requested: str) -> None:
        """Raise ``ModelNameError`` unless ``requested`` reaches the served model."""
        if self.strict and not (requested.startswith("claude") or requested in self._accepted):
            raise ModelNameError(
                f"model {requested!r} not found: this server serves {self.served!r} "
                f"(also reachable as any claude-* name or {sorted(self._accepted - {self.served})})",
                model=requested,
            )
        if requested not in self._seen and len(self._seen) < 1000:
            # Once per name: says which model answers it without a line per request.
            self._seen.add(requested)
            structlog.get_logger().info(
                "model_name_routed", requested=requested, served=self.served
            )

    def known(self) -> list[str]:
        """Names to list in ``/v1/models``."""
        return [self.served, *sorted(self._accepted - {self.served})]
