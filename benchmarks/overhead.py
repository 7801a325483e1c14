"""Serving overhead per token: Pensieve against ``mlx_lm.server`` where the model costs nothing.

``python benchmarks/overhead.py [--levels 8,32,64] [--waves 4]`` (``make bench-overhead``) builds
a tiny random-weight model (2 layers, hidden size 64, SmolLM2's tokenizer and vocabulary) whose
forward pass takes a fraction of a millisecond, and runs the same concurrency waves as ``make
bench`` against both servers on it. With the model this cheap, aggregate tokens/s is set by what
each server does per token and per step around the model (scheduling, detokenizing, stop checks,
HTTP and SSE), which is the part where the two servers differ: on a real model both spend most of
a step in the same mlx-lm batched forward pass. Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    WORK,
    float32_copy,
    machine_label,
    mlx_lm_server,
    on_cpu,
    pensieve,
    write_section,
)
from benchmarks.workloads import concurrency


def tiny_model() -> Path:
    """The tiny model, built once under .bench from the embedded SmolLM2's tokenizer."""
    from pensieve_loader import ModelStore

    target = WORK / "tiny-random"
    if not (target / "config.json").is_file():
        tokenizer = ModelStore().resolve(None).path
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "random_model.py"),
                "--shape",
                "tiny",
                "--bits",
                "0",
                "--tokenizer-from",
                str(tokenizer),
                "--out",
                str(target),
            ],
            check=True,
        )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="8,32,64")
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    built = tiny_model()
    # The same weights for both: float32 on the CPU (Pensieve's CPU precision), as stored elsewhere.
    model = float32_copy(built) if on_cpu() else built
    width = ("--set", f"engine.max-active-sequences={max(levels)}")
    with pensieve(model, *width) as (url, _):
        ours = concurrency(url, levels, args.max_tokens, "local-model", args.waves)
        print(f"pensieve: {ours}", flush=True)
    with mlx_lm_server(model, max(levels)) as url:
        theirs = concurrency(url, levels, args.max_tokens, "default_model", args.waves)
        print(f"mlx_lm.server: {theirs}", flush=True)
    label = machine_label(args.device_label)
    heading = f"## Serving overhead: {label}"
    rows = [
        "| streams | Pensieve tok/s | `mlx_lm.server` tok/s | ratio | TTFT p50 Pensieve / peer (s) |",
        "|---|---|---|---|---|",
    ]
    for level in levels:
        a, b = ours[level], theirs[level]
        rows.append(
            f"| {level} | {a['tok_s']:.0f} | {b['tok_s']:.0f} | {a['tok_s'] / b['tok_s']:.2f}x "
            f"| {a['ttft_p50']:.2f} / {b['ttft_p50']:.2f} |"
        )
    section = (
        f"{heading}\n\n`python benchmarks/overhead.py --levels {args.levels} --waves {args.waves}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC): a tiny random-weight model (2 layers, "
        "hidden size 64, SmolLM2's 49,152-token vocabulary), so that each server's own work per "
        f"token and step sets the pace; {args.max_tokens} tokens per stream, the median of "
        f"{args.waves} waves, both servers at decode width {max(levels)}.\n\n"
        + "\n".join(rows)
        + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
