"""``make bench``: measure Pensieve side by side with its peers and write docs/benchmarks.md.

Every figure is a ratio taken in one run on one machine: decode overhead against raw
``mlx_lm.stream_generate``, concurrency against ``mlx_lm.server`` on the same weights and prompts,
prefix-cache reuse on a replayed Claude-Code-shaped conversation, and start-up time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, float32_copy, machine, mlx_lm_server, on_cpu, pensieve
from benchmarks.workloads import concurrency, http_decode_rate, prefix_replay, raw_decode_rate


def _model(ref: str | None) -> tuple[str, Path]:
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(ref)
    return resolved.name, resolved.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model", default=None, help="Model reference (default: the embedded SmolLM2)."
    )
    parser.add_argument("--levels", default="1,8,32", help="Concurrency levels.")
    parser.add_argument(
        "--max-tokens", type=int, default=48, help="Tokens per request in the concurrency waves."
    )
    parser.add_argument(
        "--decode-tokens", type=int, default=128, help="Tokens per decode-overhead run."
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="Measured runs per decode figure (after a warm-up)."
    )
    parser.add_argument("--turns", type=int, default=4, help="Turns of the replayed conversation.")
    parser.add_argument(
        "--waves", type=int, default=2, help="Waves per concurrency level (the median is kept)."
    )
    parser.add_argument(
        "--starts", type=int, default=3, help="Timed starts for the start-up figure (median)."
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--recordings", type=Path, default=ROOT / "tests" / "fixtures" / "claude-code"
    )
    parser.add_argument(
        "--device-label", default=None, help="Heading for this run (e.g. 'NVIDIA H100')."
    )
    args = parser.parse_args()
    started = time.perf_counter()
    levels = [int(x) for x in args.levels.split(",")]
    name, stored = _model(args.model)
    # Every contender runs the same weights: the float32 copy on the CPU (Pensieve's CPU policy),
    # the stored quantized weights on Metal/CUDA.
    weights = float32_copy(stored) if on_cpu() else stored
    print(f"model {name}: {weights}", flush=True)

    raw = raw_decode_rate(weights, args.decode_tokens, args.runs)
    print(f"raw mlx_lm decode: {raw:.1f} tok/s", flush=True)
    # The precision policy's evidence: the stored (quantized) weights through the same raw path.
    # Few tokens: quantized decode on the CPU is the slow path this policy avoids.
    stored_raw = raw_decode_rate(stored, 8, 1) if weights != stored else raw
    print(f"raw mlx_lm decode, stored weights: {stored_raw:.1f} tok/s", flush=True)
    # The same decode width for both servers: mlx_lm.server gets --decode-concurrency max(levels).
    width = ("--set", f"engine.max-active-sequences={max(levels)}")
    with pensieve(weights, *width) as (url, startup):
        print(f"pensieve healthy after {startup:.1f}s", flush=True)
        http = http_decode_rate(url, args.decode_tokens, args.runs)
        print(f"pensieve decode: {http:.1f} tok/s", flush=True)
        ours = concurrency(url, levels, args.max_tokens, "local-model", args.waves)
        print(f"pensieve concurrency: {ours}", flush=True)
        our_turns = prefix_replay(url, args.recordings, args.turns, dialect="anthropic")
        print(f"pensieve replay ttft: {our_turns}", flush=True)
    with mlx_lm_server(weights, max(levels)) as url:
        theirs = concurrency(url, levels, args.max_tokens, "default_model", args.waves)
        print(f"mlx_lm.server concurrency: {theirs}", flush=True)
        their_turns = prefix_replay(url, args.recordings, args.turns, dialect="openai")
        print(f"mlx_lm.server replay ttft: {their_turns}", flush=True)
    # One start first, not timed: on a fresh machine it converts and keeps the weights, so the
    # timed ones start "with the model already converted"; one start alone swings by a third here.
    starts = []
    for n in range(args.starts + 1):
        with pensieve(stored) as (_, seconds):
            print(f"start-up {n} with the model: {seconds:.2f}s", flush=True)
        starts.append(seconds)
    cold_start = median(starts[1:])

    report = render(
        args,
        name=name,
        weights=weights,
        raw=raw,
        stored_raw=stored_raw,
        stored=stored,
        http=http,
        ours=ours,
        theirs=theirs,
        our_turns=our_turns,
        their_turns=their_turns,
        startup=cold_start,
        elapsed=time.perf_counter() - started,
    )
    write(args.output, report, args.device_label)
    print(report)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def render(args: argparse.Namespace, **r: object) -> str:
    facts = machine()
    ours, theirs = r["ours"], r["theirs"]
    assert isinstance(ours, dict)
    assert isinstance(theirs, dict)
    our_turns, their_turns = r["our_turns"], r["their_turns"]
    assert isinstance(our_turns, list)
    assert isinstance(their_turns, list)
    raw, http = float(r["raw"]), float(r["http"])  # type: ignore[arg-type]
    command = "make bench" + "".join(f" {a}" for a in sys.argv[1:])
    lines = [
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `{command}` in {float(r['elapsed']) / 60:.1f} min "  # type: ignore[arg-type]
        f"(`uv run python benchmarks/run.py`).",
        "",
        f"- Machine: {facts['gpu'] + ', ' if facts['gpu'] else ''}{facts['cpu']}, {facts['cores']} cores, {facts['memory']}; MLX {facts['mlx']}, mlx-lm {facts['mlx-lm']}, "
        f"Python {facts['python']}, Pensieve {facts['pensieve']}; BLAS: {facts['blas']}.",
        f"- Model: `{r['name']}`, weights `{Path(str(r['weights'])).name}` for every contender.",
        "",
        "| figure | Pensieve | peer | ratio | goal |",
        "|---|---|---|---|---|",
        f"| decode tok/s, streamed `POST /v1/messages` vs raw `mlx_lm.stream_generate` ({args.decode_tokens} tokens, greedy) "
        f"| {http:.1f} | {raw:.1f} | {_ratio(http, raw)} | >= 0.97 |",
    ]
    if r["weights"] != r["stored"]:
        stored_raw = float(r["stored_raw"])  # type: ignore[arg-type]
        lines.append(
            f"| precision policy: raw decode tok/s, float32 (what Pensieve runs here) vs the stored quantized weights "
            f"| {raw:.1f} | {stored_raw:.1f} | {_ratio(raw, stored_raw)} | > 1 on the CPU |"
        )
    for level in ours:
        o, t = ours[level], theirs[level]
        lines.append(
            f"| {level} concurrent streams: aggregate tok/s vs `mlx_lm.server` ({args.max_tokens} tokens each, median of {args.waves} waves) "
            f"| {o['tok_s']:.1f} | {t['tok_s']:.1f} | {_ratio(o['tok_s'], t['tok_s'])} | >= 1.0x |"
        )
        lines.append(
            f"| {level} concurrent streams: TTFT p50 / p95 (s) | {o['ttft_p50']:.2f} / {o['ttft_p95']:.2f} "
            f"| {t['ttft_p50']:.2f} / {t['ttft_p95']:.2f} | | |"
        )
    startup = r["startup"]
    assert isinstance(startup, float)
    ours_frac = sum(our_turns[1:]) / len(our_turns[1:]) / our_turns[0]
    theirs_frac = sum(their_turns[1:]) / len(their_turns[1:]) / their_turns[0]
    lines += [
        f"| prefix cache: TTFT of turns 2-{len(our_turns)} as a fraction of turn 1 (Claude Code `--bare` replay, billing line varies) "
        f"| {ours_frac:.3f} | {theirs_frac:.3f} | | <= 0.10 |",
        f"| prefix cache: TTFT per turn (s) | {' / '.join(f'{t:.2f}' for t in our_turns)} | {' / '.join(f'{t:.2f}' for t in their_turns)} | | |",
        f"| start-up: `pensieve start` to healthy `/health` with this model, already converted (s, median of {args.starts} starts) | {startup:.2f} | | | <= 2 |",
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, report: str, label: str | None) -> None:
    """Replace this device's section of the benchmarks page in place, keeping the others."""
    heading = label or "CPU (this machine, make bench)"
    header = "# Benchmarks\n\nEvery number here was produced by the command shown with it; ratios are measured side by side in one run.\n"
    text = path.read_text() if path.is_file() else header
    parts = text.rstrip("\n").split("\n## ")
    new = heading + "\n\n" + report.rstrip("\n")
    sections = [new if s.split("\n", 1)[0] == heading else s.rstrip("\n") for s in parts[1:]]
    if new not in sections:
        sections.append(new)
    path.write_text("\n\n## ".join([parts[0].rstrip("\n"), *sections]) + "\n")


if __name__ == "__main__":
    main()
