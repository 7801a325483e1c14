"""Two served models: a main stream's decode rate while side requests go to the fast model.

``python benchmarks/multi_model.py [--main REF] [--fast REF]`` (``make bench-models``: the
Qwen2.5-Coder-0.5B as main, the embedded SmolLM2 as fast) measures Claude Code's shape of load:
one main stream, and short side requests (titles, probes, haiku subagents) beside it.

- *alone*: the main model's stream with nothing else running;
- *side requests to the fast model*: one server with both models (``--model main=... --model
  fast=...``), 16-token requests named ``claude-haiku-*`` sent back to back during the stream;
- *side requests to the main model*: one server with the main model only, the same side requests
  (they join its batch).

Per setting: the stream's decode tok/s (median of ``--runs``) and the side requests' TTFT and
count. Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    float32_copy,
    machine_label,
    median,
    on_cpu,
    pensieve,
    stream_message,
    write_section,
)

STREAM = "Write a long story about a dragon who learns to paint. Use many details."
SIDE = "Write a five-word title for this conversation: a dragon learns to paint."


def _rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0


def _side(url: str, model: str, stop: threading.Event, ttfts: list[float]) -> None:
    """Side requests back to back until ``stop``; their TTFTs into ``ttfts``."""
    while not stop.is_set():
        ttfts.append(stream_message(url, SIDE, 16, model=model).ttft)


def measure(url: str, runs: int, max_tokens: int, side_model: str | None) -> dict[str, float]:
    """The main stream's tok/s (with side requests to ``side_model`` unless None)."""
    stream_message(url, STREAM, 8)  # warm-up: both prompts in the prefix cache
    if side_model is not None:
        stream_message(url, SIDE, 4, model=side_model)
    rates: list[float] = []
    side_ttfts: list[float] = []
    for _ in range(runs):
        stop = threading.Event()

        thread = (
            threading.Thread(target=_side, args=(url, side_model, stop, side_ttfts))
            if side_model is not None
            else None
        )
        if thread is not None:
            thread.start()
            time.sleep(0.5)
        rates.append(_rate(stream_message(url, STREAM, max_tokens).stamps))
        stop.set()
        if thread is not None:
            thread.join()
    return {
        "rate": median(rates),
        "side_ttft": median(side_ttfts) if side_ttfts else float("nan"),
        "side_count": len(side_ttfts) / runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--main", default=None, help="Main model (default: the embedded SmolLM2).")
    parser.add_argument("--fast", default=None, help="Fast model (default: the embedded SmolLM2).")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    store = ModelStore()
    main_model, fast_model = store.resolve(args.main), store.resolve(args.fast)
    convert = float32_copy if on_cpu() else (lambda path: path)
    main_dir, fast_dir = convert(main_model.path), convert(fast_model.path)
    results: dict[str, dict[str, float]] = {}
    with pensieve(main_dir) as (url, _):
        results["alone"] = measure(url, args.runs, args.max_tokens, None)
        print("alone", results["alone"], flush=True)
        results["side requests to the main model"] = measure(
            url, args.runs, args.max_tokens, "claude-haiku-4-5"
        )
        print("to main", results["side requests to the main model"], flush=True)
    with pensieve(main_dir, "--model", f"fast={fast_dir}") as (url, _):
        results["side requests to the fast model"] = measure(
            url, args.runs, args.max_tokens, "claude-haiku-4-5"
        )
        print("to fast", results["side requests to the fast model"], flush=True)
    where = machine_label()
    rows = [
        "| setting | main stream tok/s | of alone | side requests per stream | side TTFT p50 |",
        "|---|---|---|---|---|",
    ]
    alone = results["alone"]["rate"]
    for label, r in results.items():
        side = "-" if label == "alone" else f"{r['side_count']:.1f}"
        ttft = "-" if label == "alone" else f"{r['side_ttft']:.2f} s"
        rows.append(f"| {label} | {r['rate']:.1f} | {r['rate'] / alone:.2f}x | {side} | {ttft} |")
    heading = f"## Two models: {where}, {main_model.name} and {fast_model.name}"
    section = (
        f"{heading}\n\n`python benchmarks/multi_model.py` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
        f" UTC): main {main_model.name}, fast {fast_model.name}; a {args.max_tokens}-token greedy "
        "stream on the main model, and 16-token requests named `claude-haiku-4-5` sent back to "
        "back while it decodes (Claude Code's titles, probes and haiku subagents), to a fast "
        f"model served beside it or to the main model itself (median of {args.runs}).\n\n"
        + "\n".join(rows)
        + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
