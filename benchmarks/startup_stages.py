"""Where a start's seconds go: each stage of ``pensieve start`` timed in a fresh process.

``python benchmarks/startup_stages.py [--model REF] [--starts N]`` (``make bench-startup``, after
``benchmarks/startup.py``) runs, ``--starts`` times, a new Python process that does what ``pensieve
start`` does before it serves, in its order, and times each stage: the interpreter, Pensieve's
first imports, importing MLX, its first device operation (the CUDA context on a GPU), importing the
engine (mlx-lm, transformers) while the stored weights are read on a thread where they are used as
stored (``pensieve_mlx/read_ahead.py``), loading the model, the engine's GPU warm-up (kernels read
from MLX's kernel cache; a served engine runs it on its own thread while the server starts), the
same warm-up again in the same process (what its traffic costs with every kernel loaded), and the
server's imports. It uses the cache directory ``benchmarks/startup.py``
leaves (run that first: its kept weights and kernels), so each process starts as a user's later
start does. Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, WORK, machine_label, median, write_section

STAGES = {
    "interpreter": "Python up to the first line",
    "pensieve_imports": "Pensieve's launcher, OpenBLAS, transformers prepared",
    "import_mlx": "`import mlx.core`",
    "device_init": "first device operation (CUDA context, MLX's device state)",
    "import_engine": "`import pensieve_mlx` (mlx-lm, transformers), the weights read beside it",
    "load_weights": "`load_model`: tokenizer, model, the rest of the weights' read",
    "tokenizer": "of which the tokenizer (kept: read back from the cache directory)",
    "warm_up": "the engine's warm-up (GPU only, beside the server), kernels from the kept cache",
    "warm_up_again": "the same warm-up once more (every kernel already loaded)",
    "server_imports": "the HTTP server's imports",
}


def child(model: str, cache: Path, spawned: float) -> None:
    """One start's stages, as JSON on stdout."""
    times = {"interpreter": time.time() - spawned}
    mark = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        times[name] = now - mark
        mark = now

    os.environ["PENSIEVE_CACHE_DIR"] = str(cache)
    from pensieve_app import openblas
    from pensieve_app.launcher import keep_gpu_kernels, prepare_transformers

    openblas.load_openblas()
    keep_gpu_kernels()
    prepare_transformers()
    stage("pensieve_imports")
    import mlx.core as mx

    stage("import_mlx")
    mx.eval(mx.array([1.0]) + 1)
    stage("device_init")
    from pensieve_loader import ModelStore
    from pensieve_mlx.read_ahead import read_ahead

    path = ModelStore().resolve(model).path
    read = read_ahead(path, "auto")  # as the launcher does: the weights read during the imports
    from pensieve_mlx import Caches, load_model
    from pensieve_mlx.config import MLXEngineConfig
    from pensieve_mlx.warmup import exercise, prefer_own_attention

    stage("import_engine")
    loaded = load_model(path, caches=Caches(cache / "weights", cache / "tokenizers"), read=read)
    stage("load_weights")
    times["tokenizer"] = loaded.tokenizer_time_s
    if mx.default_device() != mx.cpu:
        prefer_own_attention()
        vocab = int(vars(loaded.model.args)["vocab_size"])
        exercise(loaded.model, MLXEngineConfig(), vocab)
        stage("warm_up")
        exercise(loaded.model, MLXEngineConfig(), vocab)
        stage("warm_up_again")
    import pensieve_server  # noqa: F401

    stage("server_imports")
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Model reference (default: SmolLM2).")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--device-label", default=None)
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = WORK / "startup-cache"
    model = args.model or ""
    if args.child is not None:
        child(model, cache, args.child)
        return
    from pensieve_loader import ModelStore

    resolved = ModelStore().resolve(args.model)
    env = {**os.environ, "MLX_PTX_CACHE_DIR": str(cache / "mlx-kernels")}
    runs: list[dict[str, float]] = []
    for n in range(args.starts):
        argv = [sys.executable, __file__, "--model", str(resolved.path), "--child"]
        out = subprocess.run(
            [*argv, repr(time.time())], env=env, check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"start {n + 1}: {runs[-1]}", flush=True)
    label = machine_label(args.device_label)
    heading = f"## Start-up stages: {label}"
    rows = [
        f"| {STAGES[name]} | {median([r[name] for r in runs]):.2f} |"
        for name in STAGES
        if all(name in r for r in runs)
    ]
    # The warm-up runs on the engine's thread while the server starts and serves; the tokenizer
    # is a part of ``load_weights``.
    served = [
        k
        for k in STAGES
        if not k.startswith("warm_up") and k != "tokenizer" and all(k in r for r in runs)
    ]
    total = median([sum(r[k] for k in served) for r in runs])
    section = (
        f"{heading}\n\n`python benchmarks/startup_stages.py --starts {args.starts}` "
        f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {resolved.name}), after "
        "`benchmarks/startup.py` filled its cache directory: each stage of a start, timed in a "
        f"fresh process, median of {args.starts}.\n\n| stage | seconds |\n|---|---|\n"
        + "\n".join(rows)
        + f"\n| **to serving (all but the warm-ups)** | **{total:.2f}** |\n"
    )
    write_section(args.output, heading, section)
    print(section)


if __name__ == "__main__":
    main()
