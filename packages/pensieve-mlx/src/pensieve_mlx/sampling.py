"""Per-request samplers: greedy, temperature with top-p/top-k, optionally seeded."""

from __future__ import annotations

from collections.abc import Callable

import mlx.core as mx
from mlx_lm.sample_utils import apply_top_k, apply_top_p, make_sampler

from pensieve_core import SamplingParams

Sampler = Callable[[mx.array], mx.array]


def sampler_for(params: SamplingParams, vocab_size: int) -> Sampler:
    """A sampler for one sequence. With a seed it draws from its own random key."""
    top_k = params.top_k if 0 < params.top_k < vocab_size else 0
    if params.temperature <= 0 or params.seed is None:
        return make_sampler(temp=max(params.temperature, 0.0), top_p=params.top_p, top_k=top_k)
    # MLX keys take an unsigned 64-bit seed; OpenAI's seeds are signed 64-bit integers.
    key = mx.random.key(params.seed % 2**64)
    inverse_temp = 1.0 / params.temperature

    def seeded(logprobs: mx.array) -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        if 0 < params.top_p < 1.0:
            logprobs = apply_top_p(logprobs, params.top_p)
        if top_k:
            logprobs = apply_top_k(logprobs, top_k)
        return mx.random.categorical(logprobs * inverse_temp, key=sub)

    return seeded
