"""Warm start: `pensieve start --warm FILE` and `pensieve claude --warm` prefill the prefix cache."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pensieve_loader.gguf_convert import convert_gguf
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.servers import API_KEY, running_server

BARE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code" / "f07_bare"


def _logged(log: Path, event: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if event in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{event!r} never logged:\n{log.read_text()[-2000:]}")


def test_start_warm_prefills_a_recorded_request(tmp_path: Path) -> None:
    recording = BARE / "001_POST_v1_messages.json"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with running_server(
        tmp_path, "--api-key", API_KEY, "--warm", str(broken), "--warm", str(recording)
    ) as server:
        text = _logged(server.log, "warmed")
        assert "warm_request_skipped" in text, "a bad file is skipped, the next one warmed"
        body = {**json.loads(recording.read_text())["body_json"], "max_tokens": 4}
        reply = httpx.post(
            f"{server.url}/v1/messages",
            json={**body, "stream": False},
            headers={"x-api-key": API_KEY},
            timeout=120,
        ).json()
    usage = reply["usage"]
    prompt = sum(
        usage[k] for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    assert prompt > 800
    assert usage["cache_read_input_tokens"] >= prompt - 2, (
        "the first real turn reads the warm prefix"
    )


@pytest.fixture(name="window_model", scope="module")
def _window_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("warm-window")
    write_tiny_llama(root / "w.gguf", smollm_vocab(), hidden=64, layers=2, seed=9, context=32768)
    return convert_gguf(root / "w.gguf", root / "window-tiny")


def test_claude_warm_prefills_claude_codes_setup(tmp_path: Path, window_model: Path) -> None:
    """On a window that holds it, Claude Code's own system prompt and tools are prefilled."""
    with running_server(tmp_path, "--model", str(window_model)) as server:
        env = {
            **os.environ,
            "PENSIEVE_STATE_DIR": str(tmp_path / f"state-{server.port}"),
            "HOME": str(tmp_path / "home"),
        }
        argv = [sys.executable, "-m", "pensieve_app", "claude", "--warm", "--env"]
        first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr
        assert "warmed Claude Code's setup" in first.stderr, first.stderr
        assert "export ANTHROPIC_BASE_URL=" in first.stdout
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    tokens, _ = _warmed(first.stderr)
    assert tokens > 8000, first.stderr
    again_tokens, cached = _warmed(again.stderr)
    assert again_tokens == tokens
    assert cached >= tokens - 2, again.stderr


def _warmed(stderr: str) -> tuple[int, int]:
    found = re.search(r"warmed Claude Code's setup: (\d+) tokens \((\d+) already cached\)", stderr)
    assert found is not None, stderr
    return int(found.group(1)), int(found.group(2))
