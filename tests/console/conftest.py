"""A headless Chromium for the console's tests: Debian's ``chromium``, driven by Playwright.

Nothing downloads a browser: Playwright launches ``/usr/bin/chromium`` (``make install`` puts it
there with scripts/install-chromium.sh, as root with apt). Where it is absent and cannot be
installed, the tests skip and say why.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = Path(__file__).resolve().parents[2] / "scripts" / "install-chromium.sh"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> Path:
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(INSTALL)], check=False, timeout=600)
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent and could not be installed (scripts/install-chromium.sh)"
        )
    return CHROMIUM


@contextmanager
def _without_preload() -> Iterator[dict[str, str]]:
    """The environment less ``LD_PRELOAD``, which is also out of ``os.environ`` meanwhile.

    The tests preload OpenBLAS for MLX (the Makefile's TEST_ENV); Playwright's Node driver and
    Chromium crash with it. The servers the tests start keep it.
    """
    preload = os.environ.pop("LD_PRELOAD", None)
    try:
        yield dict(os.environ)
    finally:
        if preload is not None:
            os.environ["LD_PRELOAD"] = preload


@pytest.fixture(name="context", scope="module")
def _context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One browser per module (the sync API's loop must not outlive it into async tests)."""
    executable = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")  # empty: no state from elsewhere
    # Only the driver and the browser start without the preload: the server starts later.
    with _without_preload() as env:
        playwright = sync_playwright().start()
        try:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=ARGS,
                env=env,
                viewport={"width": 1400, "height": 1000},
            )
        except BaseException:
            playwright.stop()
            raise
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()
        playwright.stop()


@pytest.fixture(name="page")
def _page(context: BrowserContext) -> Iterator[Page]:
    """A fresh tab (its own session storage)."""
    page = context.new_page()
    try:
        yield page
    finally:
        page.close()
