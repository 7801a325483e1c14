"""A burst of parallel requests on an idle server: each request's time to first token.

``python benchmarks/burst.py [--streams 8] [--waves 4]`` (``make bench-burst``) sends waves of
``--streams`` greedy streams at once (each after a lone warm-up request, so the engine is idle
when the burst arrives) to Pensieve with ``engine.arrival-window-s`` at 0 (a request that wakes
the engine starts at once) and at its default, and to ``mlx_lm.server``, all on the same weights
(the float32 SmolLM2 on the CPU). Reports the median over the waves of the first request's TTFT,
the median TTFT and the last one, and the aggregate tokens/s. Writes a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    float32_copy,
    machine_label,
    median,
    mlx_lm_server,
    on_cpu,
    pensieve,
    write_section,
)
from benchmarks.workloads import _wave


def _measure(url: str, model: str, args: argparse.Namespace) -> dict[str, float]:
    # The waves of `make bench`: a lone warm-up request first, so the server is idle at the burst.
    waves = [
        asyncio.run(_wave(url, args.streams, args.max_tokens, model, n)) for n in range(args.waves)
    ]
    print(model, [(round(w["ttft_first"], 2), round(w["ttft_last"], 2)) for w in waves], flush=True)
    return {
        "first": median([w["ttft_first"] for w in waves]),
        "p50": median([w["ttft_mid"] for w in waves]),
        "last": median([w["ttft_last"] for w in waves]),
        "tok_s": median([w["tok_s"] for w in waves]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    weights = float32_copy(resolved.path) if on_cpu() else resolved.path
    width = ("--set", f"engine.max-active-sequences={args.streams}")
    rows: dict[str, dict[str, float]] = {}
    for label, window in (("Pensieve, no arrival window", "0"), ("Pensieve, default", None)):
        extra = ("--set", f"engine.arrival-window-s={window}") if window is not None else ()
        with pensieve(weights, *width, *extra) as (url, _):
            rows[label] = _measure(url, "local-model", args)
    with mlx_lm_server(weights, args.streams) as url:
        rows["`mlx_lm.server`"] = _measure(url, "default_model", args)
    label = machine_label(args.device_label)
    heading = f"## A burst of {args.streams} requests: {label}"
    table = [
        "| server | first request's TTFT | median TTFT | last TTFT | aggregate tok/s |",
        "|---|---|---|---|---|",
    ] + [
        f"| {name} | {r['first']:.2f} s | {r['p50']:.2f} s | {r['last']:.2f} s | {r['tok_s']:.1f} |"
        for name, r in rows.items()
    ]
    section = (
        f"{heading}\n\n`python benchmarks/burst.py --streams {args.streams} --waves {args.waves}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {resolved.name}): {args.streams} greedy "
        f"streams of {args.max_tokens} tokens sent at once to an idle server, median of "
        f"{args.waves} waves; *no arrival window* is `engine.arrival-window-s = 0`.\n\n"
        + "\n".join(table)
        + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
