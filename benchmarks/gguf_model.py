"""Import one GGUF and measure it: conversion time and peak memory, then prefill and decode tok/s.

``python benchmarks/gguf_model.py FILE.gguf`` converts the file in a child process (so that its
peak resident memory is the conversion's own), loads the result as the engine does (the precision
policy: float32 on the CPU) and runs ``mlx_lm.stream_generate`` greedily on a long code prompt.
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, median

_CONVERT = """
import sys
from pathlib import Path
from pensieve_loader.gguf_convert import convert_gguf
convert_gguf(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def convert(gguf: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak resident GiB of converting ``gguf`` in a fresh interpreter."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CONVERT, str(gguf), str(out)], check=True)
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib / 2**20


def speeds(
    model_dir: Path, prompt_tokens: int, max_tokens: int, runs: int
) -> tuple[str, float, float, float]:
    """How the weights are held, the load time, prefill and decode tok/s (medians after a warm-up)."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    from pensieve_mlx.loading import load_model

    loaded = load_model(model_dir)
    line = "def add_{i}(a, b):\n    return a + b  # adds two numbers\n"
    # Each line is more than 8 tokens: enough text, cut to exactly ``prompt_tokens``.
    text = "".join(line.format(i=i) for i in range(prompt_tokens // 8))
    ids = loaded.tokenizer.encode(text)[:prompt_tokens]
    prefill, decode = [], []
    for _ in range(runs + 1):
        # The last response carries mlx-lm's own prompt and generation rates.
        (last,) = deque(
            stream_generate(
                loaded.model,
                loaded.tokenizer,
                ids,
                max_tokens=max_tokens,
                sampler=make_sampler(0.0),
            ),
            maxlen=1,
        )
        prefill.append(last.prompt_tps)
        decode.append(last.generation_tps)
    return loaded.precision, loaded.load_time_s, median(prefill[1:]), median(decode[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("gguf", type=Path)
    parser.add_argument("--prompt-tokens", type=int, default=2048)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        seconds, peak = convert(args.gguf, out)
        size = sum(f.stat().st_size for f in out.iterdir())
        precision, load_s, prefill, decode = speeds(
            out, args.prompt_tokens, args.max_tokens, args.runs
        )
    facts = machine()
    print(f"- Machine: {', '.join(f'{k} {v}' for k, v in facts.items() if v)}")
    print(f"- Model: `{args.gguf.name}` ({args.gguf.stat().st_size / 2**20:.0f} MiB)")
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| conversion (`convert_gguf`), wall s | {seconds:.1f} |")
    print(f"| conversion peak resident memory, GiB | {peak:.2f} |")
    print(f"| MLX model on disk, MiB | {size / 2**20:.0f} |")
    print(f"| load as the engine does ({precision}), s | {load_s:.1f} |")
    print(f"| prefill tok/s ({args.prompt_tokens}-token prompt) | {prefill:.1f} |")
    print(f"| decode tok/s ({args.max_tokens} tokens, greedy) | {decode:.1f} |")


if __name__ == "__main__":
    main()
