"""The progress port of long loader work (GGUF conversion): the caller decides how to show it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told how far a conversion is, in bytes of tensor data (called once per tensor)."""

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` bytes."""
        ...
