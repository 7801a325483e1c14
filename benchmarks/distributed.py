"""One model in one process and over a group of ranks (``pensieve start --ranks N``), side by side.

``python benchmarks/distributed.py [--model REF] [--ranks 2] [--levels 8]`` (``make
bench-distributed``) starts the same model three ways: one process, N ranks split by heads
(tensor parallel) and N ranks split by layers (pipeline parallel; a split the model cannot make
is reported and skipped), and measures each: batch-1 decode tok/s streamed through
``/v1/messages``, prefill tok/s of a long prompt (``--prefill-words``), aggregate tok/s at each ``--levels``
count of concurrent streams, start-up to a healthy ``/health``, and whether the greedy answer is
the one process's text exactly. On one machine the ranks share its cores (or GPU), so this is
what the lockstep and the collectives cost, not a speed-up: that needs a rank per machine or GPU.
Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    API_KEY,
    ROOT,
    WORK,
    float32_copy,
    machine_label,
    median,
    on_cpu,
    pensieve,
    stream_message,
    write_section,
)
from benchmarks.workloads import STORY, concurrency, http_decode_rate

FILLER = "The quick brown fox jumps over the lazy dog while the band plays on. "


def prefill_rate(url: str, runs: int, words: int) -> float:
    """Prompt tokens/s of a ``words``-word prompt answered with one token (a fresh prefix each run)."""
    rates = []
    with httpx.Client(base_url=url, headers={"x-api-key": API_KEY}, timeout=900) as client:
        for run in range(runs + 1):  # the first run warms up
            text = f"[{run}-{time.time_ns()}] " + FILLER * (words // 14) + "Summarize."
            body = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": text}]}
            started = time.perf_counter()
            response = client.post("/v1/messages", json=body)
            response.raise_for_status()
            rates.append(response.json()["usage"]["input_tokens"] / (time.perf_counter() - started))
    return median(rates[1:])


def measure(model: Path, extra: tuple[str, ...], args: argparse.Namespace) -> dict[str, object]:
    """Every figure of one way of serving ``model``."""
    with pensieve(model, *extra) as (url, startup):
        text = stream_message(url, STORY, args.max_tokens).text
        health = httpx.get(f"{url}/health", timeout=10).json()
        return {
            "group": health.get("group") or "one process",
            "startup": startup,
            "decode": http_decode_rate(url, args.max_tokens, args.runs),
            "prefill": prefill_rate(url, args.runs, args.prefill_words),
            "levels": {
                level: r["tok_s"]
                for level, r in concurrency(url, args.levels, 48, "m", args.waves).items()
            },
            "text": text,
        }


def _why_not_started() -> str:
    """The error line of the newest server log (a server that exited at start)."""
    logs = sorted(WORK.glob("pensieve-*.log"), key=lambda p: p.stat().st_mtime)
    lines = logs[-1].read_text(errors="replace").splitlines() if logs else []
    errors = [line for line in lines if line.startswith("Error:")]
    return errors[-1].removeprefix("Error: ") if errors else "the server did not start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--levels", default="8", help="Concurrent streams, comma-separated.")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--waves", type=int, default=1)
    parser.add_argument("--prefill-words", type=int, default=1400, help="~1.4 tokens a word.")
    parser.add_argument("--backend", default="", help="ring, jaccl or nccl (default: MLX's).")
    parser.add_argument(
        "--ways", default="one,tensor,pipeline", help="Which of one process, tensor, pipeline."
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",") if x]
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    model = float32_copy(resolved.path) if on_cpu() else resolved.path
    backend = ("--backend", args.backend) if args.backend else ()
    wanted = set(args.ways.split(","))
    ways = {
        "one process": (),
        **{
            f"{args.ranks} ranks, {split}": (
                "--ranks",
                str(args.ranks),
                "--parallel",
                split,
                *backend,
            )
            for split in ("tensor", "pipeline")
            if split in wanted
        },
    }
    results: dict[str, dict[str, object]] = {}
    skipped: dict[str, str] = {}
    for name, extra in ways.items():
        print(f"{name} ...", flush=True)
        try:
            results[name] = measure(model, extra, args)
        except RuntimeError:  # a split this model cannot make: the server's log says why
            skipped[name] = _why_not_started()
    reference = results["one process"]["text"]
    label = machine_label(args.device_label)
    heading = f"## Distributed: {label}, {resolved.name}"
    levels = args.levels
    rows = []
    for name, r in results.items():
        rates = r["levels"]
        assert isinstance(rates, dict)
        rows.append(
            f"| {name} | {r['group']} | {r['decode']:.1f} | {r['prefill']:.0f} | "
            + " | ".join(f"{rates[level]:.1f}" for level in levels)
            + f" | {r['startup']:.1f} | {'yes' if r['text'] == reference else 'NO'} |"
        )
    section = (
        f"{heading}\n\n`python benchmarks/distributed.py {' '.join(sys.argv[1:])}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {resolved.name}): the model in one "
        f"process and over {args.ranks} ranks on this one machine (`pensieve start --ranks "
        f"{args.ranks}`, MLX's {args.backend or 'default'} backend), greedy. Decode: a "
        f"{args.max_tokens}-token answer streamed through `/v1/messages` (median of "
        f"{args.runs}); prefill: a {args.prefill_words}-word prompt answered with one token; aggregate: 48 "
        "tokens each for that many concurrent streams; *same text*: the greedy answer equals "
        "the one process's.\n\n"
        "| serving | group | decode tok/s | prefill tok/s | "
        + " | ".join(f"{level} streams tok/s" for level in levels)
        + " | start-up s | same text |\n|---|---|---|---|"
        + "---|" * len(levels)
        + "---|---|\n"
        + "\n".join(rows)
        + "\n"
        + "".join(f"\n{name}: not measured ({why}).\n" for name, why in skipped.items())
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
