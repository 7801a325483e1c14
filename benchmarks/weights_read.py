"""Reading the weights on MLX's CPU stream or its GPU stream: load, warm-up and decode, A/B.

``python benchmarks/weights_read.py --model REF [--rounds N]`` (``make bench-weights-read``, a GPU
machine) starts fresh processes, alternating, that load the model the way the engine does
(``load_model``) with the stored weights read either by MLX's CPU stream (what ``load_model`` does
on CUDA) or by the GPU stream (MLX's default), then run the engine's warm-up (kernels from
``MLX_PTX_CACHE_DIR``; on a fresh cache the first process compiles them) and decode 128 tokens
greedily with ``mlx_lm.stream_generate``. Prints each process's figures and writes a section of
docs/benchmarks.md with the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine_label, median, write_section


def child(model: Path, stream: str) -> None:
    """One process: load, warm up, decode; JSON on stdout."""
    from pensieve_app.launcher import prepare_transformers

    prepare_transformers()
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    import pensieve_mlx.loading as loading
    from pensieve_mlx import load_model
    from pensieve_mlx.config import MLXEngineConfig
    from pensieve_mlx.warmup import exercise, prefer_own_attention

    mx.eval(mx.array([1.0]) + 1)
    if stream == "gpu":  # MLX's default: arrays read on the stream they are made for
        loading.__dict__["_reading_stream"] = lambda device: contextlib.nullcontext()
    started = time.perf_counter()
    loaded = load_model(model)
    load_s = time.perf_counter() - started
    warm_up_s = 0.0
    if mx.default_device() != mx.cpu:
        prefer_own_attention()
        started = time.perf_counter()
        exercise(loaded.model, MLXEngineConfig(), int(vars(loaded.model.args)["vocab_size"]))
        warm_up_s = time.perf_counter() - started
    rate = 0.0
    for response in stream_generate(
        loaded.model,
        loaded.tokenizer,
        "Tell me a story.",
        max_tokens=128,
        sampler=make_sampler(0.0),
    ):
        rate = response.generation_tps
    print(json.dumps({"load": load_s, "warm_up": warm_up_s, "decode": rate}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    parser.add_argument("--child", choices=("cpu", "gpu"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(Path(args.model), args.child)
        return
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    runs: dict[str, list[dict[str, float]]] = {"cpu": [], "gpu": []}

    def one(stream: str) -> dict[str, float]:
        argv = [sys.executable, __file__, "--model", str(resolved.path), "--child", stream]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT)
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    print(f"not counted (fills the kernel cache): {one('cpu')}", flush=True)
    for n in range(args.rounds):
        for stream in ("gpu", "cpu"):
            runs[stream].append(one(stream))
            print(f"round {n + 1}, {stream} stream: {runs[stream][-1]}", flush=True)
    label = machine_label(args.device_label)
    heading = f"## Reading the weights: {label}"

    def row(stream: str, name: str) -> str:
        values = runs[stream]
        load = median([r["load"] for r in values])
        warm = median([r["warm_up"] for r in values])
        both = median([r["load"] + r["warm_up"] for r in values])
        rate = median([r["decode"] for r in values])
        return f"| {name} | {load:.2f} | {warm:.2f} | {both:.2f} | {rate:.1f} |"

    section = (
        f"{heading}\n\n`python benchmarks/weights_read.py --rounds {args.rounds}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {resolved.name}): fresh processes, "
        "alternating, load the model as the engine does with its weights read by MLX's GPU "
        "stream or its CPU stream, run the engine's warm-up and decode 128 tokens; medians of "
        f"{args.rounds} each.\n\n"
        "| weights read on | load (s) | warm-up (s) | load + warm-up (s) | decode tok/s |\n"
        "|---|---|---|---|---|\n"
        + row("gpu", "GPU stream (MLX's default)")
        + "\n"
        + row("cpu", "CPU stream (Pensieve on CUDA)")
        + "\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
