"""The real Claude Code with its full prompt on the 32k Qwen2.5-Coder: first-turn TTFT, cold and warm.

``python benchmarks/claude_full.py`` (``make bench-claude-full``, after ``make model-coder``) runs
``pensieve claude -- -p "Use the Read tool to read notes.txt ..."`` three ways against a fresh
server each time and writes a section of docs/benchmarks.md:

- cold: nothing cached, the first turn prefills Claude Code's whole first request;
- warm: ``pensieve claude --warm`` first prefills the request Claude Code really sends from the
  directory, then the session runs (the warm-up's own time is reported);
- restart: a new server on the same disk cache, then ``--warm`` again.

The figures are the server's own (``request_finished`` log lines): prompt tokens, tokens read
from the cache, time to first token of each turn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, WORK, machine, on_cpu, pensieve, write_section

CLAUDE_CODE_VERSION = "2.1.331"
SETTINGS = (
    "--set",
    "server.default-temperature=0",
    "--set",
    "engine.max-output-tokens=160",
    "--set",
    "engine.tool-grammar=always",
)


def claude_binary() -> Path:
    """The pinned Claude Code, installed from the npm registry into the test cache once."""
    root = Path(os.environ.get("PENSIEVE_TEST_CACHE") or Path.home() / ".cache" / "pensieve-tests")
    prefix = root / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
            ],
            check=True,
        )
    return binary


def finished(log: Path) -> list[dict[str, Any]]:
    """The server's finished Messages requests, in order."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line.get("event") == "request_finished" and line.get("route") == "/v1/messages"
    ]


def session(model: Path, cache: Path, folder: Path, home: Path, warm: bool) -> dict[str, Any]:
    """One ``pensieve claude -p`` session against a fresh server; its figures."""
    with pensieve(model, *SETTINGS, cache_dir=cache) as (url, startup):
        port = url.rsplit(":", 1)[1]
        env = {
            **os.environ,
            "HOME": str(home),
            "PENSIEVE_STATE_DIR": str(WORK / f"state-{port}"),
        }
        argv = [
            sys.executable,
            "-m",
            "pensieve_app",
            "claude",
            "--claude-bin",
            str(claude_binary()),
        ]
        argv += ["--warm"] if warm else []
        prompt = f"Use the Read tool to read {folder / 'notes.txt'}, then tell me the secret word."
        argv += ["--", "-p", prompt, "--output-format", "json"]
        started = time.perf_counter()
        done = subprocess.run(
            argv, env=env, cwd=folder, capture_output=True, text=True, timeout=3600, check=False
        )
        wall = time.perf_counter() - started
        result = json.loads(done.stdout) if done.stdout.strip() else {}
        lines = finished(WORK / f"pensieve-{port}.log")
    warmed = next((line for line in lines if not line["stream"]), None)
    turns = [line for line in lines if line["stream"]]
    match = re.search(r"in ([\d.]+)s", done.stderr)
    return {
        "startup": startup,
        "warm_s": float(match.group(1)) if warm and match else None,
        "warm_prompt": warmed["prompt_tokens"] if warmed else None,
        "warm_cached": warmed["cached_tokens"] if warmed else None,
        "turns": [
            {
                "prompt": t["prompt_tokens"],
                "cached": t["cached_tokens"],
                "ttft": t["ttft_ms"] / 1000,
                "finish": t["finish_reason"],
            }
            for t in turns
        ],
        "wall": wall,
        "ok": result.get("is_error") is False,
        "num_turns": result.get("num_turns"),
    }


def render(results: dict[str, Any], model: Path, seconds: float) -> str:
    facts = machine()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## CPU: full Claude Code (not `--bare`) on Qwen2.5-Coder-0.5B",
        "",
        f"Measured {stamp} by `make bench-claude-full` in {seconds / 60:.1f} min "
        f"(`uv run python benchmarks/claude_full.py`).",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores, {facts['memory']}; MLX {facts['mlx']}, "
        f"mlx-lm {facts['mlx-lm']}, Python {facts['python']}; BLAS: {facts['blas']}.",
        f"- Model: `{model.name}` (the GGUF of `make model-coder`, run as float32); the real Claude "
        f"Code {CLAUDE_CODE_VERSION} with its full system prompt and tools, "
        '`pensieve claude -- -p "Use the Read tool to read notes.txt, then tell me the secret '
        'word."` (greedy, `engine.tool-grammar=always`). Each row is a fresh server.',
        "",
        "| run | warm-up (s) | turn 1: prompt tokens (from cache) | turn 1 TTFT (s) | turn 2 TTFT (s) | session wall (s) | ended well |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("cold", "cold (no warm start)"),
        ("warm", "`pensieve claude --warm`"),
        ("restart", "restart on the same disk cache, `--warm` again"),
    ):
        if name not in results:
            continue
        r = results[name]
        turns = r["turns"]
        first = turns[0] if turns else {"prompt": 0, "cached": 0, "ttft": float("nan")}
        second = f"{turns[1]['ttft']:.1f}" if len(turns) > 1 else "-"
        warm = f"{r['warm_s']:.0f}" if r["warm_s"] is not None else "-"
        lines.append(
            f"| {label} | {warm} | {first['prompt']} ({first['cached']}) | {first['ttft']:.1f} "
            f"| {second} | {r['wall']:.0f} | {'yes' if r['ok'] else 'no'} ({r['num_turns']} turns) |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "qwen2.5-coder-0.5b-instruct"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not on_cpu():
        raise SystemExit("this benchmark's figures are labelled CPU")
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"{args.model} is missing: run `make model-coder` first")
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="ccb"))
    (folder / "notes.txt").write_text("The secret word is pomegranate.\n")
    home = Path(tempfile.mkdtemp(prefix="ccb-home"))
    results: dict[str, Any] = {}
    cache = WORK / "claude-full-cache"
    try:
        for name, warm, fresh in (
            ("cold", False, True),
            ("warm", True, True),
            ("restart", True, False),
        ):
            if fresh:
                shutil.rmtree(cache, ignore_errors=True)
            # One HOME for every run: Claude Code's system prompt names paths under it, and the
            # restart must send the prompt the warm run stored on disk (each -p is a new session).
            results[name] = session(args.model, cache, folder, home, warm)
            print(name, results[name], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    section = render(results, args.model, time.perf_counter() - started)
    write_section(args.output, "## CPU: full Claude Code (not `--bare`)", section)
    print(section)


if __name__ == "__main__":
    main()
