"""A full Claude Code session's prefix-cache figures (not ``--bare``), side by side with mlx_lm.server.

``python benchmarks/claude_session.py`` (part of ``make bench``) builds a random-weight model of
SmolLM2-135M's shape with a 32k window (timing only needs the shape), replays Claude Code
2.1.331's recorded full requests on it and writes a section of docs/benchmarks.md:

- a session's turns: the first request (system prompt, 12 tools), the next turns with the
  ``<total_tokens>`` countdown as a system turn (m5), then the ToolSearch turn that loads a
  deferred tool (m1's second request, its history rebased onto this session);
- a subagent interleaved (the same setup, another history) before the main session's next turn;
- a restart with the disk cache: a new session's first turn, as a fraction of a cold first turn;
- the same with ``engine.kv-bits = 8``: peak memory and cache bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    API_KEY,
    ROOT,
    WORK,
    float32_copy,
    machine,
    mlx_lm_server,
    on_cpu,
    pensieve,
    write_section,
)
from benchmarks.workloads import _openai_ttft

RECORDINGS = ROOT / "tests" / "fixtures" / "claude-code"


def _body(name: str, number: int) -> dict[str, Any]:
    record = json.loads((RECORDINGS / name / f"{number:03d}_POST_v1_messages.json").read_text())
    body: dict[str, Any] = record["body_json"]
    return {**body, "max_tokens": 8, "temperature": 0, "stream": True}


def session_turns() -> list[dict[str, Any]]:
    """A main session: m5's two recorded turns, then a turn that loads a deferred tool."""
    first, second = (
        _body("m5_total_tokens_reminder_countdown", 1),
        _body("m5_total_tokens_reminder_countdown", 2),
    )
    loader = _body("m1_toolsearch_default", 2)
    # m1's ToolSearch call and its tool_reference result, appended to this session's history.
    tail = loader["messages"][-2:]
    third = {
        **second,
        "tools": loader["tools"],
        "messages": [
            *second["messages"],
            {"role": "assistant", "content": [{"type": "text", "text": "Let me load WebFetch."}]},
            {"role": "user", "content": [{"type": "text", "text": "Go ahead."}]},
            *tail,
        ],
    }
    return [first, second, third]


def subagent() -> dict[str, Any]:
    """A subagent: the same setup, its own first message."""
    body = _body("m5_total_tokens_reminder_countdown", 1)
    return {
        **body,
        "messages": [{"role": "user", "content": "Search the code base for TODO comments."}],
    }


def _ttft(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    first: float | None = None
    usage: dict[str, int] = {}
    with client.stream("POST", "/v1/messages", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and ('"content_block_delta"' in line or '"message_delta"' in line):
                first = time.perf_counter() - started
            if line.startswith("data: ") and '"message_delta"' in line:
                usage = json.loads(line[6:])["usage"]
    return (first if first is not None else time.perf_counter() - started), usage


def _health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=10).json())


def run_pensieve(model: Path, cache: Path, *extra: str) -> dict[str, Any]:
    client_args = {"headers": {"x-api-key": API_KEY}, "timeout": 1800}
    turns = session_turns()
    out: dict[str, Any] = {}
    with pensieve(model, *extra, cache_dir=cache) as (url, _):
        with httpx.Client(base_url=url, **client_args) as client:
            t1, u1 = _ttft(client, turns[0])
            sub, _ = _ttft(client, subagent())
            rest = [_ttft(client, body) for body in turns[1:]]
        out["ttft"] = [t1, *(t for t, _ in rest)]
        out["usage"] = [u1, *(u for _, u in rest)]
        out["subagent"] = sub
        health = _health(url)
        out["peak"] = health["peak_memory_bytes"]
        out["cache_bytes"] = health["prefix_cache_bytes"]
    return out


def run_restart(model: Path, cache: Path) -> float:
    """A new session's first turn on a restarted server that has the disk cache."""
    body = _body("m5_total_tokens_reminder_countdown", 1)
    body["messages"] = [*body["messages"][:-1], {"role": "user", "content": "What is in README?"}]
    headers = {"x-api-key": API_KEY}
    with (
        pensieve(model, cache_dir=cache) as (url, _),
        httpx.Client(base_url=url, headers=headers, timeout=1800) as client,
    ):
        ttft, _ = _ttft(client, body)
    return ttft


def run_mlx_lm(model: Path) -> list[float]:
    turns = session_turns()
    with mlx_lm_server(model, 1) as url, httpx.Client(base_url=url, timeout=1800) as client:
        return [_openai_ttft(client, body) for body in turns]


def render(r: dict[str, Any], args: argparse.Namespace, elapsed: float) -> str:
    ours, theirs = r["plain"]["ttft"], r["mlx_lm"]
    ratio = max(ours[1:]) / ours[0]
    theirs_ratio = max(theirs[1:]) / theirs[0]
    prompt = [sum(u.get(k, 0) for k in u if k != "output_tokens") for u in r["plain"]["usage"]]
    read = [u.get("cache_read_input_tokens", 0) for u in r["plain"]["usage"]]
    quant = r["kv8"]
    mib = 1024 * 1024
    facts = machine()
    lines = [
        f"## CPU: a full Claude Code session ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Measured by `python benchmarks/claude_session.py` (part of `make bench`) in "
        f"{elapsed / 60:.1f} min.",
        "",
        f"- Machine: {facts['cpu']}, {facts['cores']} cores, {facts['memory']}; MLX {facts['mlx']}, "
        f"mlx-lm {facts['mlx-lm']}, Python {facts['python']}; BLAS: {facts['blas']}.",
        "- Model: random weights of SmolLM2-135M's shape (30 layers, 576 wide) with a 32k window, "
        "float32; Claude Code 2.1.331's recorded full requests (12 tools, no `--bare`).",
        "",
        "| figure | Pensieve | mlx_lm.server | goal |",
        "|---|---|---|---|",
        "| TTFT per turn (s): first request, countdown turn, ToolSearch turn | "
        + " / ".join(f"{t:.2f}" for t in ours)
        + " | "
        + " / ".join(f"{t:.2f}" for t in theirs)
        + " | |",
        f"| turns 2+ as a fraction of turn 1 (the worst) | {ratio:.3f} | {theirs_ratio:.3f} | <= 0.02 |",
        "| prompt tokens per turn / read from the cache | "
        + " / ".join(f"{p} ({c})" for p, c in zip(prompt, read, strict=True))
        + " | | |",
        f"| a subagent (same setup, own history) interleaved: its TTFT (s); the main session's next turn still reads {read[1]} tokens | {r['plain']['subagent']:.2f} | | |",
        f"| first turn after a restart, with the disk cache, as a fraction of a cold first turn | {r['restart'] / ours[0]:.3f} ({r['restart']:.2f} s) | | <= 0.05 |",
        f"| peak memory / prefix cache (MiB), KV as computed | {r['plain']['peak'] / mib:.0f} / {r['plain']['cache_bytes'] / mib:.0f} | | |",
        f"| peak memory / prefix cache (MiB), `engine.kv-bits = 8` | {quant['peak'] / mib:.0f} / {quant['cache_bytes'] / mib:.0f} | | |",
        "| TTFT per turn (s), `engine.kv-bits = 8` | "
        + " / ".join(f"{t:.2f}" for t in quant["ttft"])
        + " | | |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not on_cpu():
        raise SystemExit("this benchmark's figures are labelled CPU")
    started = time.perf_counter()
    model = WORK / "smollm2-135m-32k-random"
    if not (model / "config.json").is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "random_model.py"),
                "--shape",
                "smollm2-135m-32k",
                "--bits",
                "0",
                "--tokenizer-from",
                str(ROOT / "models" / "smollm2-135m-instruct"),
                "--out",
                str(model),
            ],
            check=True,
        )
    weights = float32_copy(model)
    results: dict[str, Any] = {}
    cache = WORK / "session-cache"
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    results["plain"] = run_pensieve(weights, cache)
    print("pensieve:", results["plain"], flush=True)
    results["restart"] = run_restart(weights, cache)
    print("restart:", results["restart"], flush=True)
    results["kv8"] = run_pensieve(weights, WORK / "session-cache-kv8", "--set", "engine.kv-bits=8")
    print("kv-bits 8:", results["kv8"], flush=True)
    results["mlx_lm"] = run_mlx_lm(weights)
    print("mlx_lm.server:", results["mlx_lm"], flush=True)
    section = render(results, args, time.perf_counter() - started)
    write_section(args.output, "## CPU: a full Claude Code session", section)
    print(section)


if __name__ == "__main__":
    main()
