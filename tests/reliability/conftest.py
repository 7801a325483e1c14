"""Reliability tests: the real server (``server_url``) and the HTTP layer over a FakeEngine.

Sizes are bounded for ``make test``; ``make test-reliability`` sets ``PENSIEVE_RELIABILITY_FULL``
for the full run (1,000+ fuzz cases, 100 disconnects, a 10-minute soak at 8 clients), and every
test adds its figures to ``docs/reliability.md`` through the ``report`` fixture.
"""

import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import API_KEY

__all__ = ["API_KEY", "FULL", "Report"]

FULL = bool(os.environ.get("PENSIEVE_RELIABILITY_FULL"))
"""The full-size run (``make test-reliability``)."""
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


class Report:
    """Rows of ``docs/reliability.md``: what was tried, what happened, whether anything was lost."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, tried: str, result: str, lost: str = "nothing") -> None:
        """One row."""
        self.rows.append((tried, result, lost))

    def markdown(self, seconds: float) -> str:
        """The page."""
        lines = [
            "# Reliability",
            "",
            "Written by `make test-reliability` (the full-size run of `tests/reliability/`), on "
            f"{platform.machine()} {platform.system()} with {os.cpu_count()} CPU cores, against "
            "a real server on the embedded SmolLM2 (CPU MLX) and, for the HTTP-layer rows, the "
            f"server over a scripted engine. The run took {seconds / 60:.1f} minutes. "
            "`make test` runs the same tests at bounded sizes.",
            "",
            "| tried | result | lost |",
            "|---|---|---|",
            *(f"| {t} | {r} | {lost} |" for t, r, lost in self.rows),
        ]
        return "\n".join(lines) + "\n"


@pytest.fixture(name="report", scope="session")
def _report() -> Iterator[Report]:
    report = Report()
    started = time.monotonic()
    yield report
    if FULL and report.rows:
        DOC.write_text(report.markdown(time.monotonic() - started))
