"""Per-turn times of the Claude Code ``--bare`` replay on Pensieve's engine, with a breakdown (issue 16).

Runs ``MLXEngine`` in-process (no server): the replay's requests, rendered to ``GenerationRequest``
objects on another machine by ``--dump-requests``, are started one after another; each turn's time
to its first generated event and to its end are measured, and the worker's MLX calls are timed
(prefill chunks, decode steps, the prefix tree's fetch and store, the batch cache merge), with the
kernels MLX compiled during the turn (new files in ``MLX_PTX_CACHE_DIR``).

    python benchmarks/gpu_turns.py --dump-requests requests.pkl   # here, with the workspace
    python gpu_turns.py --model DIR --requests requests.pkl --warmup none --json out.json  # device

``--warmup fix`` keeps the engine's own GPU warm-up (``pensieve_mlx.warmup``), ``none`` skips it
(the engine as it was before issue 16), ``exchange`` skips it and runs a dummy two-turn conversation
through the engine instead. ``CACHE_GIB`` sets the prefix cache's budget (default 2 GiB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude-code"


def dump_requests(path: Path, turns: int, recording: Path | None = None) -> None:
    sys.path.insert(0, str(RECORDINGS.parent.parent.parent))
    from benchmarks import workloads
    from benchmarks.workloads import _turns

    from pensieve_api import messages_decoder
    from pensieve_server.anthropic.requests import to_domain
    from pensieve_server.state import RequestDefaults

    if recording is not None:  # another recorded first request instead of ``f07_bare``'s
        body = json.loads(recording.read_text())["body_json"]
        workloads._recorded_bare = lambda _: body
    defaults = RequestDefaults(temperature=1.0, openai_max_tokens=4096)
    bodies = _turns(RECORDINGS, turns)
    requests = [
        to_domain(messages_decoder.decode(json.dumps(b).encode()), defaults) for b in bodies
    ]
    path.write_bytes(pickle.dumps(requests))
    print(f"wrote {len(requests)} requests to {path}")


class Probes:
    """Timed wrappers around the worker's MLX calls; events since the last ``take``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float, float, Any]] = []
        self.origin = time.perf_counter()

    def take(self) -> list[tuple[str, float, float, Any]]:
        events, self.events = self.events, []
        return events

    def record(self, kind: str, started: float, detail: Any) -> None:
        now = time.perf_counter()
        self.events.append((kind, started - self.origin, now - started, detail))

    def install(self) -> None:
        import importlib

        import mlx.core as mx

        g = importlib.import_module("mlx_lm.generate")  # the package's ``generate`` is a function

        from pensieve_mlx import worker
        from pensieve_mlx.prefix_cache import PrefixCache

        probes = self
        prompt = g.PromptProcessingBatch.prompt

        def timed_prompt(self: Any, tokens: list[list[int]]) -> Any:
            started = time.perf_counter()
            cache = self.prompt_cache[0] if self.prompt_cache else None
            before = getattr(cache, "_idx", 0) if cache is not None else 0
            out = prompt(self, tokens)
            if tokens:
                detail = {"q": [len(t) for t in tokens], "kv_before": before}
                probes.record("prefill", started, detail)
            return out

        step = g.GenerationBatch.next

        def timed_next(self: Any) -> Any:
            started = time.perf_counter()
            batch = len(self.uids)
            out = step(self)
            if batch:
                probes.record("decode", started, {"b": batch})
            return out

        merge = g._merge_caches

        def timed_merge(caches: Any) -> Any:
            started = time.perf_counter()
            out = merge(caches)
            mx.eval([c.state for c in out])
            probes.record("merge", started, {"n": len(caches)})
            return out

        fetch = worker.Worker._fetch

        def timed_fetch(self: Any, tokens: list[int]) -> Any:
            started = time.perf_counter()
            cache, cached = fetch(self, tokens)
            if cache is not None:
                mx.eval([c.state for c in cache])
            probes.record("fetch", started, {"cached": cached})
            return cache, cached

        store = PrefixCache.store

        def timed_store(self: Any, tokens: Any, cache: Any) -> Any:
            started = time.perf_counter()
            out = store(self, tokens, cache)
            probes.record("store", started, {"tokens": len(tokens)})
            return out

        g.PromptProcessingBatch.prompt = timed_prompt  # type: ignore[method-assign]
        g.GenerationBatch.next = timed_next  # type: ignore[method-assign]
        g._merge_caches = timed_merge
        worker.Worker._fetch = timed_fetch  # type: ignore[method-assign]
        PrefixCache.store = timed_store  # type: ignore[method-assign]


class PtxWatch:
    """New files in MLX's kernel cache since the last look."""

    def __init__(self) -> None:
        self.root = Path(os.environ.get("MLX_PTX_CACHE_DIR", "/nonexistent"))
        self.seen = self._files()

    def _files(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()}

    def new(self) -> list[str]:
        files = self._files()
        fresh, self.seen = sorted(files - self.seen), files
        return fresh


def summarize(events: list[tuple[str, float, float, Any]]) -> dict[str, Any]:
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for kind, _, seconds, _ in events:
        totals[kind] += seconds
        counts[kind] += 1
    decodes = [e for e in events if e[0] == "decode"]
    return {
        "seconds": {k: round(v, 4) for k, v in totals.items()},
        "counts": dict(counts),
        "prefill": [
            (e[3]["q"], e[3]["kv_before"], round(e[2], 4)) for e in events if e[0] == "prefill"
        ],
        "first_decode_s": round(decodes[0][2], 4) if decodes else None,
        "later_decode_s": round(sum(e[2] for e in decodes[1:]) / max(1, len(decodes) - 1), 4),
    }


async def one_turn(engine: Any, request: Any) -> tuple[float, float, int, int]:
    from pensieve_core import Finished, PromptProgress

    started = time.perf_counter()
    first = 0.0
    cached = prompt = 0
    async with await engine.start(request) as generation:
        async for event in generation.events():
            if isinstance(event, PromptProgress):
                cached, prompt = generation.cached_tokens, generation.prompt_tokens
                continue
            if not first:
                first = time.perf_counter() - started
            if isinstance(event, Finished):
                break
    return first, time.perf_counter() - started, cached, prompt


async def exchange(engine: Any) -> None:
    """A dummy two-turn conversation (the generic warm-up the issue suggests)."""
    from pensieve_core import GenerationRequest, Message, SamplingParams, TextPart

    system = "You are a warm-up. " * 120
    first = (Message("user", (TextPart("Say hello."),)),)
    second = (
        *first,
        Message("assistant", (TextPart("Hello."),)),
        Message("user", (TextPart("Thanks. Now tell me one fact about the sea."),)),
    )
    for messages in (first, second):
        request = GenerationRequest(
            messages=messages,
            system=system,
            sampling=SamplingParams(max_tokens=4, temperature=0),
        )
        await one_turn(engine, request)


def sdpa_bench() -> list[dict[str, Any]]:
    """First and repeated call of MLX's attention for the replay's prefill shapes (array mask)."""
    import mlx.core as mx

    out = []
    heads, dim = 32, 96
    for q_len, kv_len in ((27, 1143), (27, 1171), (27, 1199), (84, 1108), (512, 1024)):
        buffer = mx.random.normal((2, 1, heads, kv_len + 256, dim)).astype(mx.float16)
        keys, values = buffer[0, :, :, :kv_len], buffer[1, :, :, :kv_len]
        queries = mx.random.normal((1, heads, q_len, dim)).astype(mx.float16)
        rinds = mx.arange(kv_len)[None]
        linds = mx.arange(kv_len - q_len, kv_len)[:, None]
        mask = (linds >= rinds) & (mx.expand_dims(mx.array([0]), (1, 2, 3)) <= rinds)
        mx.eval(keys, values, queries, mask)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            o = mx.fast.scaled_dot_product_attention(
                queries, keys, values, scale=dim**-0.5, mask=mask
            )
            mx.eval(o)
            times.append(round((time.perf_counter() - started) * 1000, 2))
        out.append({"q": q_len, "kv": kv_len, "ms": times})
    return out


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    import mlx.core as mx

    from pensieve_mlx import engine as engine_module
    from pensieve_mlx.config import MLXEngineConfig, ServedModel

    probes = Probes()
    probes.install()
    ptx = PtxWatch()
    result: dict[str, Any] = {
        "label": args.label,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("MLX_", "CUDA_CACHE"))},
    }
    warm = getattr(engine_module, "warm_up", None)
    if warm is not None:

        def timed_warm(*a: Any) -> Any:
            t = time.perf_counter()
            out = warm(*a) if args.warmup == "fix" else None
            result["warmup"] = {
                "seconds": round(time.perf_counter() - t, 3),
                "ran": out is not None,
                "ptx_new": ptx.new(),
                "events": summarize(probes.take()),
            }
            return out

        engine_module.warm_up = timed_warm
    elif args.warmup == "fix":
        raise SystemExit("this pensieve_mlx has no warm_up")
    served = ServedModel(
        name="phi3", path=Path(args.model), context_length=args.context, supports_tools=False
    )
    engine = engine_module.MLXEngine.load(
        served,
        MLXEngineConfig(
            prefix_cache_dir="", prefix_cache_bytes=int(os.environ.get("CACHE_GIB", "2")) * 2**30
        ),
    )
    result["load_s"] = round(time.perf_counter() - started, 2)
    result["device"] = str(mx.default_device())
    if args.warmup == "exchange":
        t = time.perf_counter()
        asyncio.run(exchange(engine))
        result["warmup"] = {
            "seconds": round(time.perf_counter() - t, 3),
            "ptx_new": ptx.new(),
            "events": summarize(probes.take()),
        }
    ptx.new()
    probes.take()
    requests = pickle.loads(Path(args.requests).read_bytes())[: args.turns]
    turns = []
    for i, request in enumerate(requests, 1):
        first, total, cached, prompt = asyncio.run(one_turn(engine, request))
        turns.append(
            {
                "turn": i,
                "ttft_s": round(first, 4),
                "total_s": round(total, 4),
                "cached": cached,
                "prompt": prompt,
                "ptx_new": ptx.new(),
                **summarize(probes.take()),
            }
        )
        print(
            f"{args.label} turn {i}: ttft {first:.3f} s, total {total:.3f} s "
            f"({cached}/{prompt} cached) {turns[-1]['seconds']} new kernels {turns[-1]['ptx_new']}",
            flush=True,
        )
    result["turns"] = turns
    if args.sdpa_bench:
        result["sdpa_bench"] = sdpa_bench()
        print(f"{args.label} sdpa {result['sdpa_bench']}", flush=True)
    asyncio.run(engine.aclose())
    result["ptx_total"] = len(ptx.seen)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dump-requests", type=Path)
    parser.add_argument("--recording", type=Path, help="With --dump-requests: the first turn.")
    parser.add_argument("--model")
    parser.add_argument("--requests")
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--warmup", choices=("none", "fix", "exchange"), default="none")
    parser.add_argument("--label", default="run")
    parser.add_argument("--json")
    parser.add_argument("--sdpa-bench", action="store_true")
    parser.add_argument("--context", type=int, default=4096, help="The window the engine is told.")
    args = parser.parse_args()
    if args.dump_requests:
        dump_requests(args.dump_requests, args.turns, args.recording)
    else:
        run(args)


if __name__ == "__main__":
    main()
