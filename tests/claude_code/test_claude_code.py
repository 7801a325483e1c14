"""Real ``claude -p`` against Pensieve serving the embedded SmolLM2; assertions on Claude Code's JSON."""

import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.claude_code.conftest import Claude, tool_results, tool_uses


def test_bare_prompt_gets_a_real_answer(claude: Claude) -> None:
    result = claude.run(
        "-p",
        "What is the capital of France? Answer in one sentence.",
        "--bare",
        "--output-format",
        "json",
    )
    assert result["is_error"] is False
    assert result["subtype"] == "success"
    assert result["result"].strip()
    usage = result["usage"]
    # Claude Code sets cache breakpoints, so its prompt is reported as cache reads and writes.
    prompt = (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    assert prompt > 500
    assert usage["cache_creation_input_tokens"] > 0
    assert result["usage"]["output_tokens"] > 0


def test_full_prompt_over_the_window_gets_prompt_too_long(claude: Claude) -> None:
    result = claude.run("-p", "say hi", "--output-format", "json")
    assert result["is_error"] is True
    assert result["api_error_status"] == 400
    assert result["api_error_type"] == "invalid_request_error"
    assert result["terminal_reason"] == "prompt_too_long"
    assert "Prompt is too long" in result["result"]
    assert httpx.get(f"{claude.url}/health").json()["status"] == "ok"


def test_read_tool_round_trip(
    claude_bin: Path, always_server: str, workdir: Path, request: pytest.FixtureRequest
) -> None:
    # A short path: the 135M model copies it into the call reliably (long pytest paths it garbles).
    folder = Path(tempfile.gettempdir()) / f"cc{os.getpid()}"
    folder.mkdir(exist_ok=True)
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    target = folder / "hello.txt"
    target.write_text("hello from hello.txt\n")
    claude = Claude(claude_bin, always_server, workdir / "home", folder)
    messages = claude.run(
        "-p",
        f"Read the file {target} and tell me what it says.",
        "--bare",
        "--tools",
        "Read",
        "--output-format",
        "stream-json",
        "--verbose",
    )
    calls = tool_uses(messages)
    assert calls, messages
    assert calls[0]["name"] == "Read"
    assert calls[0]["input"]["file_path"] == str(target)
    results = tool_results(messages)
    assert results
    assert "hello from hello.txt" in str(results[0]["content"])
    final = messages[-1]
    assert final["type"] == "result"
    assert final["is_error"] is False
    assert final["num_turns"] >= 2
    assert final["result"].strip()


def test_continue_reuses_the_prefix_cache(claude: Claude) -> None:
    first = claude.run("-p", "Say hi.", "--bare", "--output-format", "json")
    assert first["is_error"] is False
    second = claude.run("-p", "Now say bye.", "--bare", "--continue", "--output-format", "json")
    assert second["is_error"] is False
    assert second["session_id"] == first["session_id"]
    assert second["usage"]["cache_read_input_tokens"] > 500
