"""GPU start-up: kernels compiled at engine load rather than in a later turn, and no cuDNN attention.

Issue 16: on an H200 the Claude Code ``--bare`` replay's second turn took far longer than the
third, although both reuse the cached prefix and prefill the same ~27 new tokens. Two costs of
MLX's CUDA backend, both paid inside requests, explain it (measured on the engine path with
``benchmarks/gpu_turns.py``, random-weight Phi-3-mini shape, 4-bit; docs/benchmarks.md):

- **First-use kernel compilation.** MLX compiles some kernels with NVRTC when one of their variants
  first runs and keeps them in ``MLX_PTX_CACHE_DIR`` (by default a directory under the system
  temporary directory, lost on reboot). The
  quantized matrix product of a prompt chunk has one variant per tile of rows: 8-16, 17-32, and 33
  or more (under 8 a vector kernel runs). A first request prefills in long chunks (tile 64); only
  the second, whose new turn is short, needs the 32-row tile. With an empty kernel cache it was
  compiled then: turn 2 took 39 s (turn 1: 66 s, its tile and the rest). With the kernels on disk
  from an earlier process, loading that one still added 0.08-0.10 s to turn 2 (0.19-0.24 s against
  0.10-0.14 s for turns 3-6), with or without cuDNN. Batched decoding of 8-32 sequences uses the same tiles; sampling at a
  temperature, prompts prefilled together, sequences leaving or joining the batch and
  ``engine.kv-bits`` each have kernels of their own.
- **cuDNN attention graphs.** MLX's cuDNN attention builds a graph for every new query/key shape
  and a prompt's prefill chunks always have new ones (the key length grows each turn): 40-70 ms
  for each turn's chunk, and 1.4-3.4 s for the first graphs of a process (turn 1). MLX's own
  attention takes under a millisecond for these shapes. Turned off, turn 1 of the replay went from
  2.3 to 0.9 s and turns 2-6 from 0.11-0.15 to 0.09-0.11 s; a 12.4k-token prompt prefilled in
  2.0-2.2 s rather than 2.1 s (4.7-5.6 s for a process's first), and a turn on top of it, cached,
  from 0.24-0.27 to 0.18-0.21 s.

``warm_up`` therefore (on GPU devices only; the CPU compiles nothing at run time) turns MLX's
cuDNN attention off on CUDA unless ``MLX_CUDA_USE_CUDNN_SDPA`` is set (MLX reads it once, at its
first attention call, which comes later), then runs one of each kind of traffic on a throwaway
batch generator and prefix tree before the worker starts: a prompt prefilled in chunks of each
tile class, its cache kept and handed back for a prompt that extends it, prefilled together with a
fresh one and decoded beside it (greedy and at temperature 1), the short one leaving the batch and
a third joining. It takes 1.1-1.6 s when the kernels are on disk; with an empty kernel cache it
compiles them (39-52 s for each tile on that machine), once per cache directory. Turn 2 then
costs what turns 3-6 cost.

The warm-up gives way to traffic: the worker runs it while it has nothing else to do, and a
request that arrives stops it at the next step (a request sent the moment ``/health`` turns
healthy would otherwise wait for all of it, 1.4-1.8 s of a 7B model on an H100). The request
loads the kernels it needs itself; the warm-up runs again from the start the next time the worker
is idle (what it already loaded costs little the second time: 0.3 s), until it completes once.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import structlog
from mlx_lm.generate import BatchGenerator
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.sample_utils import make_sampler

from pensieve_mlx.config import MLXEngineConfig
from pensieve_mlx.prefix_cache import KVCodec, PrefixCache

log = structlog.get_logger()

CUDNN_ATTENTION = "MLX_CUDA_USE_CUDNN_SDPA"
"""MLX's switch for cuDNN attention on CUDA (1, its default: on)."""
CHUNKS = (64, 32, 16, 5)
"""A first prompt's chunks: one for each tile of rows, and one for the vector kernel."""
NEW_TURN = 24
"""Tokens the second prompt adds to the first (a turn's user and assistant text)."""


def prefer_own_attention() -> bool:
    """Turn cuDNN attention off on CUDA unless the environment chose; whether this did."""
    if not mx.cuda.is_available() or CUDNN_ATTENTION in os.environ:
        return False
    os.environ[CUDNN_ATTENTION] = "0"
    return True


def _tokens(start: int, count: int, vocab_size: int) -> list[int]:
    """Arbitrary but fixed token ids (their values do not change which kernels run)."""
    return [(start + 7919 * i) % vocab_size for i in range(count)]


class _GaveWay(Exception):
    """Traffic arrived: the warm-up stops where it is."""


def _never() -> bool:
    return False


def _run(
    generator: BatchGenerator, uids: set[int], interrupted: Callable[[], bool]
) -> dict[int, tuple[list[int], list[Any]]]:
    """Step until the sequences ``uids`` end; each one's tokens and cache."""
    done: dict[int, tuple[list[int], list[Any]]] = {}
    while not uids <= done.keys():
        if interrupted():
            raise _GaveWay
        _, responses = generator.next()
        for r in responses:
            if r.finish_reason is not None:
                done[r.uid] = (list(r.all_tokens), r.prompt_cache)
    return done


def exercise(
    model: Any,
    config: MLXEngineConfig,
    vocab_size: int,
    interrupted: Callable[[], bool] = _never,
) -> bool:
    """Run the warm-up traffic (see the module docstring) on ``model``; False: it gave way.

    ``interrupted`` is asked before every step: once it says yes, the traffic stops there.
    """
    generator = BatchGenerator(
        model,
        stop_tokens=None,
        completion_batch_size=max(2, config.max_active_sequences),
        prefill_batch_size=max(2, min(config.prefill_batch_size, config.max_active_sequences)),
        prefill_step_size=config.prefill_step_size,
    )
    tree = PrefixCache(max_bytes=2**40, max_entries=8, codec=KVCodec(bits=config.kv_bits))
    greedy = make_sampler(temp=0.0)
    try:
        # A first turn: its prompt prefilled in segments, each a chunk of its own.
        prompt = _tokens(0, sum(CHUNKS) + 1, vocab_size)
        edges = [0, *itertools.accumulate(CHUNKS), len(prompt)]
        segments = [prompt[a:b] for a, b in itertools.pairwise(edges)]
        (first,) = generator.insert_segments([segments], max_tokens=[3], samplers=[greedy])
        if interrupted():
            raise _GaveWay
        prompt_responses, _ = generator.next()
        if any(p.end_of_segment for p in prompt_responses):  # a boundary snapshot, as kept
            for cache, tokens in generator.extract_cache([first]).values():
                tree.store(list(tokens), cache)
        tokens, cache = _run(generator, {first}, interrupted)[first]
        tree.store(tokens, cache)

        # The second turn extends it from the tree, prefilled beside a fresh prompt, decoded
        # beside it; the fresh one leaves the batch first, then a third prompt joins it.
        second = [*tokens, *_tokens(1, NEW_TURN, vocab_size)]
        cached, length = tree.fetch(second)
        uids = generator.insert(
            [second[length:], _tokens(2, 12, vocab_size)],
            max_tokens=[6, 2],
            caches=[cached or make_prompt_cache(model), make_prompt_cache(model)],
            all_tokens=[second[:length], []],
            samplers=[make_sampler(temp=1.0), greedy],
        )
        _run(generator, {uids[1]}, interrupted)
        (third,) = generator.insert([_tokens(3, 9, vocab_size)], max_tokens=[2])
        _run(generator, {uids[0], third}, interrupted)
    except _GaveWay:
        return False
    finally:
        generator.close()
        mx.clear_cache()
    return True


def warm_up(
    model: Any,
    config: MLXEngineConfig,
    vocab_size: int,
    interrupted: Callable[[], bool] = _never,
) -> bool:
    """Prepare a GPU device (see the module docstring); False: it gave way to traffic.

    Nothing to do on the CPU, which compiles nothing at run time.
    """
    if mx.default_device() == mx.cpu:
        return True
    own_attention = prefer_own_attention()
    started = time.perf_counter()
    done = exercise(model, config, vocab_size, interrupted)
    seconds = time.perf_counter() - started
    if not done:
        log.info("engine_warm_up_gave_way", seconds=round(seconds, 2))
        return False
    cudnn = os.environ.get(CUDNN_ATTENTION, "1") != "0"
    log.info(
        "engine_warmed_up",
        seconds=round(seconds, 2),
        cudnn_attention=cudnn,
        why="" if cudnn or not own_attention else f"set {CUDNN_ATTENTION}=1 to use it",
    )
    return True
