"""Start-up: ``pensieve start`` to a healthy ``/health``, the first time and the next times.

``python benchmarks/startup.py [--model REF] [--starts N]`` (``make bench-startup``) starts the
server ``--starts`` times on an already converted model, each time to a healthy ``/health`` and
stopped again, with the kept state of a user's machine: the converted weights and, on a GPU,
MLX's compiled kernels in one cache directory that starts empty. The first start pays what is
kept (dequantized CPU weights, compiled GPU kernels); the others show a user's usual start.
Each start is also placed on a timeline from its server's own log (seconds from the launch):
the model loaded, the server listening, the GPU warm-up done. Writes a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    WORK,
    machine_label,
    median,
    pensieve,
    stream_message,
    write_section,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Start from the cache directory an earlier run left (kept weights and kernels): "
        "every start is a later one.",
    )
    parser.add_argument(
        "--healthy-only",
        action="store_true",
        help="No first answer: each server is killed once healthy (a start on an empty GPU "
        "kernel cache is then not waited for).",
    )
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    kept = WORK / "startup-cache"
    if not args.keep:
        shutil.rmtree(kept, ignore_errors=True)
    # One user's cache: the engine's kept weights and MLX's kernels (the launcher's defaults).
    os.environ["MLX_PTX_CACHE_DIR"] = str(kept / "mlx-kernels")
    times: list[float] = []
    answers: list[float] = []

    def shown(answer: float) -> str:
        return "-" if args.healthy_only else f"{answer:.2f}"

    marks: dict[str, list[float]] = {name: [] for name in EVENTS}
    for n in range(args.starts):
        server = pensieve(
            resolved.path, cache_dir=kept, weights_cache=kept / "weights", kill=args.healthy_only
        )
        launched = time.time()
        with server as (url, seconds):
            times.append(seconds)
            # Sent the moment /health is healthy: what start-up work still runs, it waits for.
            began = time.perf_counter()
            if not args.healthy_only:
                stream_message(url, "Say hi.", 4)
            answers.append(seconds + time.perf_counter() - began)
        seen = _timeline(WORK / f"pensieve-{url.rsplit(':', 1)[1]}.log", launched)
        for name, at in seen.items():
            marks[name].append(at)
        print(
            f"start {n + 1}: {seconds:.2f} s, first answer at {shown(answers[-1])} s; "
            + ", ".join(f"{EVENTS[k]} at {v:.2f} s" for k, v in seen.items()),
            flush=True,
        )
    label = machine_label(args.device_label)
    heading = f"## Start-up: {label}"
    later = times[1:]
    section = (
        f"{heading}\n\n`python benchmarks/startup.py --starts {args.starts}"
        f"{' --keep' if args.keep else ''}{' --healthy-only' if args.healthy_only else ''}` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
        f"UTC, {resolved.name}): `pensieve start` to a healthy `/health`, {args.starts} starts "
        f"in a row with one cache directory {'an earlier run filled' if args.keep else 'that starts empty'} "
        "(kept weights, MLX's kernels).\n\n"
        "| start | to a healthy `/health` (s) | to the first answer (s) |\n|---|---|---|\n"
        + (
            f"| kept from an earlier run, median of {len(times)} | {median(times):.2f} "
            f"| {shown(median(answers))} |\n"
            if args.keep
            else f"| first (nothing kept yet) | {times[0]:.2f} | {shown(answers[0])} |\n"
            + (
                f"| next ones, median of {len(later)} | {median(later):.2f} "
                f"| {shown(median(answers[1:]))} |\n"
                if later
                else ""
            )
        )
        + "\n"
        + _timeline_row(marks, args.keep)
        + "The first answer: a 4-token reply to a request sent the moment `/health` is healthy "
        "(what start-up work still runs then, such as the GPU warm-up, it waits for). "
        "Goal: <= 2 s to healthy with an already converted model.\n"
    )
    write_section(args.output, heading, section)
    print(section)


EVENTS = {
    "model_loaded": "model loaded",
    "Running on": "listening",
    "engine_warmed_up": "warm-up done",
}
"""Events of the server's log placed on each start's timeline, and their names."""


def _timeline(log: Path, launched: float) -> dict[str, float]:
    """Seconds from the launch to the first line of each of ``EVENTS`` in a server's log."""
    seen: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
            event = str(record.get("event", ""))
            at = dt.datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00"))
        except (ValueError, KeyError):
            continue
        for name in EVENTS:
            if event.startswith(name) and name not in seen:
                seen[name] = at.timestamp() - launched
    return seen


def _timeline_row(marks: dict[str, list[float]], keep: bool) -> str:
    """One line on where the starts' seconds went, from their logs."""
    # The first start of an empty cache is left out unless every start is a later one.
    chosen = {k: (v if keep else v[1:]) or v for k, v in marks.items() if v}
    if not chosen:
        return ""
    return (
        "From the servers' own logs (seconds from the launch, median of the same starts): "
        + ", ".join(f"{EVENTS[k]} at {median(v):.2f}" for k, v in chosen.items())
        + ".\n\n"
    )


if __name__ == "__main__":
    main()
