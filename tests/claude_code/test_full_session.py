"""The real Claude Code with its full prompt (no ``--bare``) on a 32k-window model.

As a user runs it: ``pensieve start`` on the model, then ``pensieve claude --warm -- -p ...``,
which first prefills Claude Code's own first request (caught from the installed claude) so that a
new session's first turn reads only its prompt.

On the real Qwen2.5-Coder-0.5B (``make test-slow``) a session reads a file and answers; its first
prefill of ~11,600 tokens takes 7-14 minutes on 2 CPU cores. ``make test`` runs the bounded
version: the same full prompt on a tiny random-weight model with Qwen2.5's real vocabulary and
template, which shows that every request of a full session is accepted and that the warm start
and the prefix cache keep turns 1 and 2 from reading it again, in about a minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pensieve_loader.gguf_convert import convert_gguf
from tests.claude_code.conftest import tool_results, tool_uses
from tests.ggufs import coder_gguf, qwen_vocab, write_tiny_llama
from tests.servers import API_KEY, running_server

WORD = "pomegranate"
# Greedy and bounded, as in the --bare suite; tool-grammar=always because a 0.5B model cannot
# pick among Claude Code's tools on its own (it answers with a fenced call to a wrong tool).
# Claude Code compacts when the session comes within its output reserve (an eighth of the
# window, as `pensieve claude` sets it) plus 13,000 tokens of the window: a 28,400-token cap
# puts that point just past the first session's ~11,650 tokens, so a short follow-up crosses it.
WINDOW = 28_400
WINDOW_GREEDY = (
    "--set",
    f"engine.max-context-tokens={WINDOW}",
    "--set",
    "server.default-temperature=0",
)
SETTINGS = (
    *WINDOW_GREEDY,
    "--set",
    "engine.max-output-tokens=240",
    "--set",
    "engine.tool-grammar=always",
)
TINY_SETTINGS = (
    *WINDOW_GREEDY,
    # Random weights: a few tokens of text, never a tool call (one needs more tokens than this).
    "--set",
    "engine.max-output-tokens=6",
    "--set",
    "engine.tool-grammar=off",
)


@dataclass(frozen=True, slots=True)
class Session:
    """A served coder model and a project folder Claude Code runs in."""

    url: str
    env: dict[str, str]
    folder: Path
    claude_bin: Path
    log: Path

    def claude(self, *args: str, warm: bool = False, timeout: float = 1500) -> Any:
        argv = [
            sys.executable,
            "-m",
            "pensieve_app",
            "claude",
            "--claude-bin",
            str(self.claude_bin),
        ]
        argv += ["--warm"] if warm else []
        argv += ["--", *args, "--output-format", "stream-json", "--verbose"]
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        assert messages, done.stderr
        return messages, done.stderr


@pytest.fixture(name="coder_model", scope="module")
def _coder_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_gguf(coder_gguf(), tmp_path_factory.mktemp("coder") / "coder")


@pytest.fixture(name="session", scope="module")
def _session(
    claude_bin: Path, coder_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    yield from _served(claude_bin, coder_model, tmp_path_factory.mktemp("full"), SETTINGS)


@pytest.fixture(name="tiny_session", scope="module")
def _tiny_session(claude_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("full-tiny")
    write_tiny_llama(root / "tiny.gguf", qwen_vocab(), arch="qwen2", context=32_768, seed=5)
    model = convert_gguf(root / "tiny.gguf", root / "tiny")
    yield from _served(claude_bin, model, root, TINY_SETTINGS)


def _served(
    claude_bin: Path, model: Path, root: Path, settings: tuple[str, ...]
) -> Iterator[Session]:
    """``model`` served as ``settings`` say, and a project folder for Claude Code."""
    # A short path: small models copy short paths exactly.
    folder = Path(tempfile.mkdtemp(prefix="ccf"))
    (folder / "notes.txt").write_text(f"The secret word is {WORD}.\n")
    (root / "home").mkdir()
    with running_server(root, "--api-key", API_KEY, "--model", str(model), *settings) as server:
        env = {
            **os.environ,
            "HOME": str(root / "home"),
            "PENSIEVE_STATE_DIR": str(root / f"state-{server.port}"),
            "TZ": _noon_zone(),
        }
        yield Session(server.url, env, folder, claude_bin, server.log)
    shutil.rmtree(folder, ignore_errors=True)


def _noon_zone() -> str:
    """A fixed-offset zone where it is about noon now.

    Claude Code writes today's date into its prompt, after the tools and the system prompt; a
    session crossing midnight between the warm start and turn 1 would read that tail again.
    """
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12, all IANA Etc zones
    # Etc/GMT signs are POSIX-inverted: Etc/GMT-5 is UTC+5.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def _finished(log: Path) -> list[dict[str, Any]]:
    """The server's ``request_finished`` lines for Messages requests, in order."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line.get("event") == "request_finished" and line.get("route") == "/v1/messages"
    ]


def test_full_claude_code_requests_are_served_and_turns_read_the_cache(
    tiny_session: Session,
) -> None:
    """The bounded version: every request of a full session accepted and read from the cache.

    Six tokens of a random model's text end each answer at the output limit, and Claude Code asks
    the model to resume: each of those requests, and the first of the next session turn
    (``--continue``), reads everything before its own new text from the cache.
    """
    messages, stderr = tiny_session.claude("-p", "Say hello.", warm=True)
    warmed = re.search(r"warmed Claude Code's setup: (\d+) tokens", stderr)
    assert warmed is not None, stderr
    assert int(warmed.group(1)) > 10_000, "the full prompt, not --bare's"
    assert messages[-1]["type"] == "result", messages[-1]
    assert not tool_uses(messages)
    turn_one = [line for line in _finished(tiny_session.log) if line.get("stream")]
    messages, stderr = tiny_session.claude("--continue", "-p", "And again.")
    assert messages[-1]["type"] == "result", (messages[-1], stderr[-2000:])
    finished = _finished(tiny_session.log)
    assert all(line["status"] == 200 for line in finished), finished
    warm = next(line for line in finished if not line["stream"])
    streamed = [line for line in finished if line["stream"]]
    assert warm["completion_tokens"] == 0
    assert warm["prompt_tokens"] > 10_000
    assert turn_one
    assert len(streamed) > len(turn_one), streamed
    for line in turn_one:
        assert line["prompt_tokens"] - line["cached_tokens"] < 100, line
    later = streamed[len(turn_one)]
    assert later["prompt_tokens"] > turn_one[-1]["prompt_tokens"], "the session continued"
    assert later["prompt_tokens"] - later["cached_tokens"] < 200, later
    # Claude Code's setup is read from the cache by every request. (Past it, the random text of
    # earlier answers need not encode back to the tokens that were generated.)
    assert all(line["cached_tokens"] >= warm["prompt_tokens"] - 100 for line in streamed)


@pytest.mark.slow
def test_full_claude_code_reads_a_file_and_answers(session: Session) -> None:
    target = session.folder / "notes.txt"
    messages, stderr = session.claude(
        "-p", f"Use the Read tool to read {target}, then tell me the secret word.", warm=True
    )
    warmed = re.search(r"warmed Claude Code's setup: (\d+) tokens", stderr)
    assert warmed is not None, stderr
    assert "as this Claude Code sends it from here" in stderr
    assert int(warmed.group(1)) > 10_000, "the full prompt, not --bare's"
    calls = tool_uses(messages)
    assert calls, messages
    assert calls[0]["name"] == "Read"
    assert calls[0]["input"]["file_path"] == str(target)
    results = tool_results(messages)
    assert results
    assert WORD in str(results[0]["content"])
    final = messages[-1]
    assert final["type"] == "result", final
    assert final["is_error"] is False, final
    assert final["num_turns"] == 2, "the result is answered in text, so the loop ends"
    answer = final["result"].strip()
    assert answer
    assert not answer.startswith(("{", "```")), "an answer, not the call again"
    # The first turn read everything but its own prompt from the warmed cache; so did the second.
    finished = _finished(session.log)
    warm = next(line for line in finished if not line["stream"])
    first, second = (line for line in finished if line["stream"])
    assert warm["completion_tokens"] == 0
    assert first["prompt_tokens"] > 10_000
    assert first["prompt_tokens"] - first["cached_tokens"] < 100, first
    assert second["prompt_tokens"] - second["cached_tokens"] < 200, second
    print(
        f"full Claude Code: warm {warm['prompt_tokens']} tokens in {warm['ms'] / 1000:.0f}s; "
        f"turn 1 {first['prompt_tokens']} tokens, TTFT {first['ttft_ms'] / 1000:.1f}s; "
        f"turn 2 TTFT {second['ttft_ms'] / 1000:.1f}s"
    )


@pytest.mark.slow
def test_a_session_past_the_window_is_compacted_and_goes_on(session: Session) -> None:
    """Claude Code's own auto-compaction: its summary request is answered and the turn runs.

    Slow (``make test-slow``): after the summary, Claude Code re-sends the turn on a new prefix
    (about 3k tokens to prefill here, minutes on 2 cores) and may resume it more than once.
    """
    words = [
        "river",
        "mountain",
        "cloud",
        "garden",
        "window",
        "letter",
        "orange",
        "silver",
        "engine",
        "market",
    ]
    notes = " ".join(words[i * 7 % len(words)] for i in range(300))
    messages, stderr = session.claude(
        "--continue", "-p", f"My notes: {notes}. Which file did you read before?"
    )
    subtypes = [m.get("subtype") for m in messages if m.get("type") == "system"]
    statuses = [m.get("status") for m in messages if m.get("type") == "system"]
    assert "compacting" in statuses, (subtypes, stderr[-2000:])
    assert "compact_boundary" in subtypes, (subtypes, stderr[-2000:])
    final = messages[-1]
    assert final["type"] == "result", final
    assert final["is_error"] is False, final
    assert final["result"].strip()
    finished = [line for line in _finished(session.log) if line["stream"]]
    summary = finished[2]
    assert summary["finish_reason"] in ("stop", "length")
    assert summary["cached_tokens"] > 11_000, "the summary request reads the session from cache"
    print(
        f"compaction: summary request {summary['prompt_tokens']} tokens "
        f"({summary['cached_tokens']} cached), TTFT {summary['ttft_ms'] / 1000:.1f}s; "
        f"{len(finished) - 3} requests after it"
    )
