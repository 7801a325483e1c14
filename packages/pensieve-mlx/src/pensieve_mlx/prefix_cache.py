"""The prefix KV cache: a byte-budgeted LRU of prompt caches, matched by longest token prefix.

Built on mlx-lm's ``LRUPromptCache`` (a token trie with LRU eviction); this wrapper keeps the
hit statistics and guarantees that at least one prompt token is left to process.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import LRUPromptCache, can_trim_prompt_cache, trim_prompt_cache

_MODEL_KEY = "model"  # one engine serves one model


class PrefixCache:
    """Owned by the engine's worker thread; never touched from another thread."""

    def __init__(self, *, max_bytes: int, max_entries: int) -> None:
        self._lru = LRUPromptCache(max_size=max_entries, max_bytes=max_bytes)
        self.enabled = max_bytes > 0 and max_entries > 0
        self.lookups = 0
        self.hits = 0

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(self._lru.nbytes)

    def __len__(self) -> int:
        return len(self._lru)

    def fetch(self, tokens: list[int]) -> tuple[list[Any] | None, int]:
        """A copy of the cache for the longest cached prefix of ``tokens``, and its length."""
        if not self.enabled:
            return None, 0
        self.lookups += 1
        cache, rest = self._lru.fetch_nearest_cache(_MODEL_KEY, tokens)
        if cache is None:
            return None, 0
        if not rest:
            # The whole prompt is cached; one token must still go through the model for logits.
            if not can_trim_prompt_cache(cache):
                return None, 0
            trim_prompt_cache(cache, 1)
            rest = tokens[-1:]
        self.hits += 1
        return cache, len(tokens) - len(rest)

    def store(self, tokens: list[int], cache: list[Any]) -> None:
        """Keep ``cache`` (holding exactly ``tokens``) for later requests."""
        if self.enabled and tokens:
            # Extracted caches are lazy copies of the batch's KV buffers: unevaluated, each one
            # keeps the whole batch buffer alive (GBs no byte count sees). Evaluated, it holds
            # exactly the bytes it reports.
            mx.eval([c.state for c in cache])
            before = len(self._lru)
            self._lru.insert_cache(_MODEL_KEY, list(tokens), cache)
            if len(self._lru) <= before:
                mx.clear_cache()  # an entry was evicted: give its buffers back
