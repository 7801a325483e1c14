"""Draft-model speculation: a small model of the same vocabulary drafts, the served model checks.

As in mlx-lm's ``speculative_generate_step``: the draft model decodes a few tokens greedily on
its own KV cache, the served model verifies them in one forward pass (``solo.py``) and keeps the
longest prefix it agrees with, so the output is the served model's own. The draft's cache stays
with the worker between sequences: a conversation's next turn shares its prefix, and only what
changed is fed to the draft again (as the prefix cache does for the served model).
"""

from __future__ import annotations

import time
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache

_CHUNK = 512
"""Tokens per forward pass while the draft catches up with the context."""


class DraftModel:
    """The draft model and the cache that follows the sequence it drafts for (worker thread)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._cache = make_prompt_cache(model)
        if not all(layer.is_trimmable() for layer in self._cache):
            raise ValueError("the draft model's KV cache cannot be cut back (sliding windows)")
        self._cached: list[int] = []
        """Tokens in the draft's cache."""
        self._context: list[int] = []
        """Tokens in the served model's cache: what the next draft continues."""
        self.setup_s = 0.0
        """Seconds the last ``draft`` spent catching up with the context rather than drafting."""

    def start(self, tokens: list[int]) -> DraftModel:
        """Draft for a new sequence whose cache holds ``tokens``; the shared prefix is kept."""
        self._context = list(tokens)
        return self

    def extend(self, tokens: list[int]) -> None:
        """The served model took ``tokens``."""
        self._context.extend(tokens)

    def draft(self, last: int, limit: int) -> list[int]:
        """Up to ``limit`` tokens the draft model predicts after the context and ``last``."""
        started = time.perf_counter()
        wanted = [*self._context, last]
        shared = 0
        for mine, theirs in zip(self._cached, wanted, strict=False):
            if mine != theirs:
                break
            shared += 1
        shared = min(shared, len(wanted) - 1)  # at least one token to feed for the logits
        if len(self._cached) > shared:
            for layer in self._cache:
                layer.trim(len(self._cached) - shared)
            del self._cached[shared:]
        feed = wanted[shared:]
        for start in range(0, len(feed) - 1, _CHUNK):
            self._model(
                mx.array([feed[start : min(start + _CHUNK, len(feed) - 1)]]), cache=self._cache
            )
            mx.eval([layer.state for layer in self._cache])
        self.setup_s = time.perf_counter() - started if len(feed) > 2 else 0.0
        following = mx.array([feed[-1]])
        drafted: list[int] = []
        for _ in range(limit):
            logits = self._model(following.reshape(1, 1), cache=self._cache)[:, -1, :]
            following = mx.argmax(logits, axis=-1)
            token = following.item()
            assert isinstance(token, int)
            drafted.append(token)
        # The last drafted token was never fed: the cache holds the context, ``last`` and the rest.
        self._cached = [*wanted, *drafted[:-1]]
        return drafted
