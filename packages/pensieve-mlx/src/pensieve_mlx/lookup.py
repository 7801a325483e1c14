"""Prompt-lookup speculation: drafts from n-gram matches against the prompt and the text so far.

Claude Code's edits and tool results repeat the files they quote, so the tokens that follow the
last few generated tokens are often already in the context. A draft is what followed the latest
earlier occurrence of the last ``n`` tokens (3, else 2); the model checks all of it in one
forward pass and keeps the longest prefix it agrees with (greedy), so the output is the model's own.

Whether that pays depends on the device (a k-token verify costs 1.3-2.6x a one-token step on
CUDA, less on Apple GPUs) and on the text, so ``Pacing`` measures both: the draft length follows
the acceptance, and speculation pauses whenever it delivers fewer tokens per second than plain
decoding measured in the same sequence, or finds no draft several steps in a row (a step that
looks for one cannot queue the next before reading the token, which cost 5-10% on an H200).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_NGRAMS = (3, 2)


class PromptLookup:
    """An index of the context's n-grams, each to where its latest occurrence continued."""

    def __init__(self) -> None:
        self._tokens: list[int] = []
        self._index: dict[tuple[int, ...], int] = {}
        self.setup_s = 0.0
        """Drafts cost no setup: the index grows as tokens arrive."""

    def start(self, tokens: list[int]) -> PromptLookup:
        """Index a new sequence's context."""
        self._tokens, self._index = [], {}
        self.extend(tokens)
        return self

    def extend(self, tokens: list[int]) -> None:
        """Append ``tokens`` to the context."""
        for token in tokens:
            self._tokens.append(token)
            # The n-grams ending one token back: their continuation now exists. The newest
            # n-gram stays out, so a lookup of the context's end finds an earlier occurrence.
            end = len(self._tokens) - 1
            for n in _NGRAMS:
                if end >= n:
                    self._index[tuple(self._tokens[end - n : end])] = end

    def draft(self, last: int, limit: int) -> list[int]:
        """Up to ``limit`` tokens predicted to follow the context and then ``last``."""
        tail = [*self._tokens[-(max(_NGRAMS) - 1) :], last]
        for n in _NGRAMS:
            start = self._index.get(tuple(tail[-n:]))
            if start is not None:
                return self._tokens[start : start + limit]
        return []


@dataclass(slots=True)
class Pacing:
    """How many tokens to draft, from measured acceptance and speed; 0 while paused."""

    max_tokens: int
    length: int = 4
    plain_rate: float = 0.0
    """Tokens per second of plain steps (an exponential average)."""
    draft_rate: float = 0.0
    """Tokens per second of speculative steps."""
    _pause: int = 3
    """Plain steps first: their rate is what speculation must beat."""
    _backoff: int = 8
    _plain_seen: int = field(default=0)
    _misses: int = 0

    def wanted(self) -> int:
        """Draft length for the next step (0: decode plainly)."""
        if self._pause > 0:
            self._pause -= 1
            return 0
        return min(self.length, self.max_tokens)

    def missed(self) -> None:
        """No draft was found: that step ran unpipelined for nothing; after a few, pause."""
        self._misses += 1
        if self._misses >= 4:
            self._misses = 0
            self._pause, self._backoff = self._backoff, min(self._backoff * 2, 256)

    def plain(self, tokens: int, seconds: float) -> None:
        """A plain step took ``seconds`` for ``tokens``."""
        self._plain_seen += 1
        self.plain_rate = _average(self.plain_rate, tokens / seconds if seconds > 0 else 0.0)

    def drafted(self, drafted: int, accepted: int, seconds: float) -> None:
        """A verify step checked ``drafted`` tokens and kept ``accepted`` (plus one of its own)."""
        self._misses = 0
        self.draft_rate = _average(self.draft_rate, (accepted + 1) / seconds if seconds > 0 else 0)
        if accepted == drafted:
            self.length = min(self.length * 2, self.max_tokens)
        elif accepted * 2 < drafted:
            self.length = max(1, self.length // 2)
        if self._plain_seen >= 2 and self.draft_rate < self.plain_rate:
            # Slower than plain decoding here and now: back off, longer each time it repeats.
            self._pause, self._backoff = self._backoff, min(self._backoff * 2, 256)
            self.draft_rate = 0.0
        elif self.draft_rate > self.plain_rate * 1.2:
            self._backoff = 8


def _average(previous: float, sample: float) -> float:
    return sample if previous == 0 else 0.7 * previous + 0.3 * sample
