"""How many new prompts the batch generator prefills in its next pass: counted by their tokens.

mlx-lm's ``BatchGenerator`` takes a fixed number of new prompts per prefill pass
(``prefill_batch_size``). A burst of short prompts taken eight at a time decodes its first
streams for several steps at small batch sizes, where each token costs the most (a step's cost
grows far more slowly than its rows: on 2 CPU cores a token in a batch of 8 costs about twice one
in a batch of 64), while the rest of the burst waits for its first token.
Counting the prompts' uncached tokens instead lets a burst of short ones start in one pass, while
long ones still go a few at a time, so no pass is longer than before.
"""

from __future__ import annotations

from collections.abc import Iterable


class PrefillBudget:
    """Prompts handed to the batch generator and not yet started, with their uncached tokens."""

    def __init__(self, *, prompts: int, tokens: int, most: int) -> None:
        """At least ``prompts`` per pass, more while ``tokens`` allow, never above ``most``."""
        self._prompts = min(prompts, most)
        self._tokens = tokens
        self._most = most
        self._waiting: dict[int, int] = {}
        """Uncached tokens by uid, in the order the generator takes them (first in, first out)."""

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, uid: int, tokens: int) -> None:
        """``uid`` was inserted with ``tokens`` tokens left to prefill."""
        self._waiting[uid] = tokens

    def leave(self, uids: Iterable[int]) -> None:
        """These sequences wait no more: in a prefill pass, past it, or removed."""
        for uid in uids:
            self._waiting.pop(uid, None)

    def clear(self) -> None:
        """Nothing waits any more (the generator was replaced)."""
        self._waiting.clear()

    def count(self) -> int:
        """The prompts the next pass may take: the first ones whose tokens fit the budget."""
        total = 0
        count = 0
        for tokens in self._waiting.values():
            total += tokens
            if count >= self._prompts and total > self._tokens:
                break
            count += 1
        return max(self._prompts, min(count, self._most))
