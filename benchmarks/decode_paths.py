"""Batch-1 decode: raw mlx-lm, Pensieve's fast path and Pensieve's batch generator, in one run.

``python benchmarks/decode_paths.py [--model REF]`` (``make bench-decode``) measures, on the same
weights and prompt, greedy:

- raw ``mlx_lm.stream_generate`` (the ceiling);
- one stream through ``POST /v1/messages`` with ``engine.single-sequence-fast-path`` on (default);
- the same with it off (every token through mlx-lm's ``BatchGenerator``, as before the fast path);
- the device's copy bandwidth, and so the bandwidth floor: weight bytes read once per token.

``--rounds N`` (3) measures the three paths N times, alternating, and reports each path's median over
the rounds and its ratio to raw mlx-lm as the median of the rounds' own ratios: on a shared
machine whose speed drifts, paths measured one after the other are not comparable.

Writes a section of docs/benchmarks.md (``--output``) headed with ``--device-label``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, float32_copy, machine_label, on_cpu, pensieve, write_section
from benchmarks.workloads import http_decode_rate, raw_decode_rate


def copy_bandwidth() -> float:
    """Bytes per second of a large device-to-device copy (read plus write), best of 5."""
    import mlx.core as mx

    source = mx.random.uniform(shape=(256 * 1024 * 1024 // 4,))  # 256 MiB of float32
    mx.eval(source)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        copy = source * 1.0
        mx.eval(copy)
        best = min(best, time.perf_counter() - started)
        del copy
    return 2 * source.nbytes / best


def weight_bytes(model_dir: Path) -> int:
    return sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))


def _spread(rounds: list[dict[str, float]], raw_name: str) -> str:
    """Each round's ratio to raw mlx-lm, per path: how far the machine swung."""
    if len(rounds) < 2:
        return ""
    parts = [
        f"{name}: " + " / ".join(f"{r[name] / r[raw_name]:.2f}" for r in rounds)
        for name in rounds[0]
        if name != raw_name
    ]
    return "\nEach round's ratio to raw mlx-lm, in order: " + "; ".join(parts) + ".\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--tokens", type=int, default=128, help="Tokens per measured run.")
    parser.add_argument("--runs", type=int, default=3, help="Measured runs per figure.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds of the paths.")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    weights = float32_copy(resolved.path) if on_cpu() else resolved.path
    paths: dict[str, tuple[str, ...] | None] = {
        "raw `mlx_lm.stream_generate`": None,
        "Pensieve `/v1/messages`, fast path": (),
        "Pensieve `/v1/messages`, batch generator": (
            "--set",
            "engine.single-sequence-fast-path=false",
        ),
    }
    rounds: list[dict[str, float]] = []
    for round_no in range(args.rounds):
        measured_now: dict[str, float] = {}
        for name, extra in paths.items():
            if extra is None:
                measured_now[name] = raw_decode_rate(weights, args.tokens, args.runs)
            else:
                with pensieve(weights, *extra) as (url, _):
                    measured_now[name] = http_decode_rate(url, args.tokens, args.runs)
            print(f"round {round_no + 1}, {name}: {measured_now[name]:.1f} tok/s", flush=True)
        rounds.append(measured_now)
    raw_name = next(iter(paths))
    measured = [(name, median(r[name] for r in rounds)) for name in paths]
    ratios = {name: median(r[name] / r[raw_name] for r in rounds) for name in paths}
    label = machine_label(args.device_label)
    heading = f"## Batch-1 decode paths: {label}"
    intro = (
        f"{heading}\n\n`python benchmarks/decode_paths.py --rounds {args.rounds}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {resolved.name}, weights "
        f"{weight_bytes(weights) / 2**30:.2f} GiB as run): greedy, {args.tokens} tokens, median "
        f"of {args.runs} runs after a warm-up"
        + (
            f"; {args.rounds} rounds alternating the paths, each figure the median over the "
            "rounds and each ratio the median of the rounds' own ratios."
            if args.rounds > 1
            else "."
        )
    )
    if on_cpu():
        # MLX's CPU copy runs on one thread: it does not measure the memory bandwidth.
        rows = ["| path | tok/s | of raw mlx-lm |", "|---|---|---|"]
        rows += [f"| {name} | {v:.1f} | {ratios[name]:.2f}x |" for name, v in measured]
        section = intro + "\n\n" + "\n".join(rows) + "\n" + _spread(rounds, raw_name)
    else:
        bandwidth = copy_bandwidth()
        floor = bandwidth / weight_bytes(weights)
        rows = [
            "| path | tok/s | of raw mlx-lm | of the bandwidth floor |",
            "|---|---|---|---|",
        ]
        rows += [
            f"| {name} | {v:.1f} | {ratios[name]:.2f}x | {v / floor:.2f} |" for name, v in measured
        ]
        section = (
            f"{intro} Copy bandwidth {bandwidth / 1e9:.0f} GB/s, so the floor (weights read once "
            f"per token) is {floor:.0f} tok/s.\n\n"
            + "\n".join(rows)
            + "\n"
            + _spread(rounds, raw_name)
        )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
