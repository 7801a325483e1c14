"""Mixed load: a short request and a running stream while a long prompt prefills.

``python benchmarks/mixed_load.py`` (part of ``make bench``; ``make bench-mixed`` alone) runs the
same workload on two servers of the same model, one after the other:

- *batch prefill*: ``engine.long-prompt-tokens`` set past every prompt and the single-sequence
  fast path off, so each prompt is prefilled inside mlx-lm's batch generator, as before the lane;
- *prefill lane, a slice every step*: the lane with ``engine.prefill-share=1``, one slice after
  every decode step, as before the share;
- *prefill lane* (the default): long prompts are prefilled beside the batch in time slices that
  take about ``engine.prefill-share`` of the time while streams decode, and short requests run
  ahead of them.

Per server: the TTFT of a 4-token request alone and sent while a ~6k-token prompt prefills (the
ratio is the figure), the decode rate of a stream alone and while such a prompt prefills, and that
long prompt's TTFT alone and beside the stream (what the stream's share costs it).
Each figure is the median of ``--runs``; every long prompt starts with a fresh tag, so nothing
is read from the prefix cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    API_KEY,
    ROOT,
    float32_copy,
    machine_label,
    median,
    on_cpu,
    pensieve,
    stream_message,
    write_section,
)


def long_text(lines: int) -> str:
    """The long prompt: ``lines`` numbered lines (200: about 3k tokens)."""
    return " ".join(
        f"Line {i}: the {('red', 'green', 'blue')[i % 3]} box holds {i} pens." for i in range(lines)
    )


STREAM = "Write a long story about a dragon who learns to paint. Use many details."


def _stream(url: str, text: str, max_tokens: int) -> tuple[float, list[float]]:
    """TTFT and the arrival time of every text delta of one streamed request."""
    streamed = stream_message(url, text, max_tokens)
    return streamed.ttft, streamed.stamps


def _prompt_tokens(url: str, text: str) -> int:
    body = {"model": "claude-bench", "messages": [{"role": "user", "content": text}]}
    with httpx.Client(base_url=url, headers={"x-api-key": API_KEY}, timeout=60) as client:
        answer = client.post("/v1/messages/count_tokens", json=body)
        return int(json.loads(answer.text)["input_tokens"])


def _rate(stamps: list[float], start: float, end: float) -> float:
    inside = [s for s in stamps if start <= s <= end]
    return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 2 else 0.0


def _background(url: str, text: str, tag: str, out: dict[str, float]) -> threading.Thread:
    """The long prompt, streamed in a thread; records when its first token came."""

    def run() -> None:
        started = time.perf_counter()
        ttft, _ = _stream(url, f"[{tag}] {text}\nWhich line holds 7 pens?", 4)
        out["started"], out["first"] = started, started + ttft

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _record(url: str, into: dict[str, list[float]]) -> None:
    into["stamps"] = _stream(url, STREAM, 200)[1]


def measure(url: str, text: str, runs: int, label: str) -> dict[str, float]:
    """Short-request TTFT and stream decode rate, alone and during a long prefill."""
    _stream(url, "Say hi.", 4)  # warm-up
    alone = median([_stream(url, f"[{label}-a{r}] Say hi.", 4)[0] for r in range(runs)])
    during: list[float] = []
    for r in range(runs):
        long: dict[str, float] = {}
        thread = _background(url, text, f"{label}-s{r}", long)
        time.sleep(1.5)  # the long prompt is prefilling
        during.append(_stream(url, f"[{label}-d{r}] Say hi.", 4)[0])
        thread.join()
    # A running stream: its rate alone, then while a long prompt prefills.
    solo = median(
        [_rate(s, 0, float("inf")) for _, s in (_stream(url, STREAM, 48) for _ in range(runs))]
    )
    shared: list[float] = []
    beside: list[float] = []
    for r in range(runs):
        long = {}
        result: dict[str, list[float]] = {}
        streamer = threading.Thread(target=_record, args=(url, result))
        streamer.start()
        time.sleep(1.0)  # the stream is decoding
        thread = _background(url, text, f"{label}-r{r}", long)
        thread.join()
        streamer.join()
        shared.append(_rate(result["stamps"], long["started"], long["first"]))
        beside.append(long["first"] - long["started"])
    lone: list[float] = []
    for r in range(runs):
        long = {}
        _background(url, text, f"{label}-l{r}", long).join()
        lone.append(long["first"] - long["started"])
    return {
        "short_alone": alone,
        "short_during": median(during),
        "stream_alone": solo,
        "stream_during": median(shared),
        "long_alone": median(lone),
        "long_beside": median(beside),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--device-label", default=None)
    parser.add_argument(
        "--lines", type=int, default=200, help="Lines of the long prompt (200: about 3k tokens)."
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    # A GPU prefills the default prompt in well under the 1.5 s the short request waits for.
    text = long_text(args.lines)
    command = "python benchmarks/mixed_load.py" + "".join(
        f" {flag} {value}"
        for flag, value, default in (
            ("--model", args.model, None),
            ("--lines", args.lines, 200),
            ("--runs", args.runs, 2),
        )
        if value != default
    )
    weights = float32_copy(resolved.path) if on_cpu() else resolved.path
    results: dict[str, dict[str, float]] = {}
    long_tokens = 0
    for label, extra in (
        (
            "batch prefill",
            (
                "--set",
                "engine.long-prompt-tokens=1000000",
                "--set",
                "engine.single-sequence-fast-path=false",
            ),
        ),
        ("prefill lane, a slice every step", ("--set", "engine.prefill-share=1")),
        ("prefill lane", ()),
    ):
        with pensieve(weights, *extra) as (url, _):
            long_tokens = _prompt_tokens(url, text)
            results[label] = measure(url, text, args.runs, f"{label.split()[0]}{len(results)}")
            print(label, results[label], flush=True)
    # The CPU's section keeps its heading; a GPU's gets one of its own beside it.
    heading = "## Mixed load"
    if args.device_label or not on_cpu():
        heading += f": {machine_label(args.device_label)}"
    section = render(heading, results, long_tokens, resolved.name, args.runs, command)
    write_section(args.output, heading, section)


def render(
    heading: str,
    results: dict[str, dict[str, float]],
    long_tokens: int,
    model: str,
    runs: int,
    command: str,
) -> str:
    where = machine_label()
    rows = [
        "| | short request TTFT alone | during a long prefill | ratio | stream tok/s alone "
        "| during a long prefill | long prompt TTFT alone | beside the stream |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        rows.append(
            f"| {label} | {r['short_alone']:.2f} s | {r['short_during']:.2f} s "
            f"| {r['short_during'] / r['short_alone']:.1f}x | {r['stream_alone']:.1f} "
            f"| {r['stream_during']:.1f} | {r['long_alone']:.1f} s | {r['long_beside']:.1f} s |"
        )
    return (
        f"{heading}\n\n"
        f"`{command}` ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{where}, {model}): a 4-token request sent 1.5 s into a fresh {long_tokens:,}-token prefill, "
        "and a stream decoding while such a prefill runs. *Batch prefill* is every prompt "
        "prefilled in mlx-lm's batch generator (`engine.long-prompt-tokens` past every prompt, "
        "`engine.single-sequence-fast-path` off); *prefill lane, a slice every step* is the lane "
        "with `engine.prefill-share=1`; *prefill lane* is the default. Medians of "
        f"{runs} runs each.\n\n" + "\n".join(rows) + "\n"
    )


if __name__ == "__main__":
    main()
