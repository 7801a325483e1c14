"""Where a real start's seconds go: ``pensieve start`` sampled by py-spy until ``/health`` is healthy.

``python benchmarks/startup_profile.py [--model REF]`` (after ``benchmarks/startup.py``, whose
cache directory it starts from, as a user's later start does) runs ``pensieve start`` under
``py-spy record`` (py-spy on ``PATH``; it is a profiler, not a dependency of Pensieve), stops it
once healthy and prints the call tree of the samples, import machinery left out, with every node
above ``--min-share`` of them. ``benchmarks/startup_stages.py`` times the stages in a process of
its own; this samples the real launcher, with everything it does between them.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import API_KEY, WORK, free_port, server_env, wait_http

HIDDEN = re.compile(r"<frozen importlib|<frozen runpy|[(/]click/|_call_with_frames_removed")
"""Frames that only carry a call along (the import system, the CLI library)."""


def _short(frame: str) -> str:
    """``name (package/module.py:line)`` without the directories before the package."""
    found = re.match(r"(.*?) \((.*)\)$", frame)
    if found is None:
        return frame[:80]
    name, where = found.groups()
    return f"{name} ({re.sub(r'.*/(site-packages|src|python3[.0-9]*)/', '', where)})"


def tree(raw: Path, rate: int, min_share: float, depth: int) -> list[str]:
    """py-spy's raw samples as an indented tree of inclusive seconds."""
    counts: Counter[tuple[str, ...]] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";")[1:] if not HIDDEN.search(f)]
        total += int(n)
        for d in range(1, min(depth, len(frames)) + 1):
            counts[tuple(frames[:d])] += int(n)
    lines = [f"{total / rate:.2f} s sampled ({total} samples at {rate}/s)"]

    def walk(prefix: tuple[str, ...]) -> None:
        kids = [(k, v) for k, v in counts.items() if len(k) == len(prefix) + 1 and k[:-1] == prefix]
        for key, value in sorted(kids, key=lambda kv: -kv[1]):
            if value >= min_share * total:
                lines.append(f"{value / rate:6.2f} s  {'  ' * len(prefix)}{key[-1]}")
                walk(key)

    walk(())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--py-spy", default="py-spy", help="The py-spy executable.")
    parser.add_argument("--rate", type=int, default=250, help="Samples per second.")
    parser.add_argument("--min-share", type=float, default=0.02)
    parser.add_argument("--depth", type=int, default=16)
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    kept = WORK / "startup-cache"
    raw = WORK / "startup-profile.txt"
    port = free_port()
    env = {
        **os.environ,
        "MLX_PTX_CACHE_DIR": str(kept / "mlx-kernels"),
        **server_env(port, kept, kept / "weights"),
    }
    argv = [args.py_spy, "record", "-r", str(args.rate), "--format", "raw", "-o", str(raw)]
    argv += ["--", sys.executable, "-m", "pensieve_app", "start", "--model", str(resolved.path)]
    argv += ["--port", str(port), "--api-key", API_KEY]
    launched = time.perf_counter()
    with (WORK / "startup-profile.log").open("wb") as log:
        # Its own process group: one SIGINT stops the server (a clean shutdown) and py-spy, which
        # then writes its samples.
        spy = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            healthy = wait_http(
                f"http://127.0.0.1:{port}", "/health", 600, alive=lambda: spy.poll() is None
            )
            print(f"healthy after {healthy:.2f} s under py-spy", flush=True)
        finally:
            os.killpg(spy.pid, signal.SIGINT)
            spy.wait(timeout=120)
    print(f"{time.perf_counter() - launched:.1f} s in all; samples in {raw}")
    print("\n".join(tree(raw, args.rate, args.min_share, args.depth)))


if __name__ == "__main__":
    main()
