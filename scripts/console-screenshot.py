"""Take docs/console.png: the web console after a few requests, in headless Chromium.

Usage: python scripts/console-screenshot.py URL [API_KEY]   (a running server, e.g. `make serve`)

Drives Debian's chromium (scripts/install-chromium.sh) as tests/console do; nothing is fetched
from beyond the server.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "console.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
PROMPTS = ("What is the capital of France?", "And of Italy? One word.")


def main(url: str, key: str) -> None:
    """Send ``PROMPTS`` through the page at ``url``, then take the screenshot."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            args=ARGS,
            env=env,
            viewport={"width": 1360, "height": 1060},
        )
        page = context.new_page()
        page.goto(url)
        if key:
            page.fill("#key-input", key)
            page.press("#key-input", "Enter")
        page.wait_for_selector("#console[data-ready]")
        page.click("#playground summary")  # unfold the system prompt
        page.fill("#system", "You are a concise geography tutor.")
        page.fill("#max-tokens", "48")
        page.fill("#temperature", "0")
        for prompt in PROMPTS:
            page.fill("#prompt", prompt)
            page.click("#send")
            page.wait_for_selector(".message.assistant:last-child[data-done]", timeout=120_000)
            page.wait_for_timeout(8000)  # a few polls: the charts move
        page.locator("#request-rows tr").first.click()
        page.wait_for_timeout(2000)
        page.screenshot(path=str(OUT), full_page=True)
        context.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
