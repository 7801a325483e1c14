"""Progress of long work (GGUF conversion): a bar on a terminal, a line every 10% otherwise."""

from __future__ import annotations

import sys
from typing import IO, Any

import click


class ProgressReporter:
    """A ``pensieve_loader.Progress``: call it with ``(done, total)`` bytes as work advances."""

    def __init__(self, label: str, *, stream: IO[str] | None = None) -> None:
        self.label = label
        self._stream = stream
        self._bar: Any = None
        self._last_step = -1

    @property
    def stream(self) -> IO[str]:
        """Where progress goes: stderr, so stdout stays clean for ``--json`` and pipes."""
        return self._stream or sys.stderr

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` bytes."""
        if self.stream.isatty():
            self._tick_bar(done, total)
            return
        step = min(100, 100 * done // max(total, 1)) // 10 * 10
        if step > self._last_step:
            self._last_step = step
            click.echo(
                f"{self.label}: {step}% ({done / 2**20:,.0f} of {total / 2**20:,.0f} MiB)",
                file=self.stream,
            )
        if done >= total:
            self._last_step = -1

    def _tick_bar(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=total,
                desc=self.label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stream,
                leave=True,
            )
        self._bar.update(done - self._bar.n)
        if done >= total:
            self._bar.close()
            self._bar = None
