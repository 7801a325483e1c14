"""A thinking budget: after ``budget`` reasoning tokens the model is made to close its reasoning.

Anthropic's ``thinking.budget_tokens`` caps the reasoning part of an answer. Local reasoning models
have no such switch, so the cap is enforced as a logits processor: it follows the sampled tokens
for the model's thinking markers, counts the tokens in between and, once the budget is spent,
allows only the tokens of the end marker, one step at a time ("budget forcing").
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx


class ThinkingBudget:
    """An mlx-lm logits processor: ``(context_tokens, logits) -> logits``, for one sequence."""

    def __init__(
        self,
        budget: int,
        *,
        start: Sequence[int],
        end: Sequence[int],
        inside: bool,
    ) -> None:
        self._budget = budget
        self._start = tuple(start)
        self._end = tuple(end)
        self._inside = inside
        """In the reasoning part now (the prompt may open it)."""
        self._spent = 0
        self._forced = 0
        """How many end-marker tokens have been forced so far."""
        self._closed = False
        self._recent: list[int] = []
        self._started = False

    def __call__(self, context: mx.array, logits: mx.array) -> mx.array:
        """Follow the last sampled token; force the end marker once the budget is spent."""
        # The first call sees the prompt's last token; later calls the token sampled last.
        if self._started and not self._closed:
            token = context[-1].item()
            assert isinstance(token, int), "token ids are integers"
            self._follow(token)
        self._started = True
        if self._closed or not self._inside or self._spent < self._budget:
            return logits
        token = self._end[self._forced]
        self._forced += 1
        mask = mx.arange(logits.shape[-1]) == token
        return mx.where(mask, logits, mx.array(-float("inf"), dtype=logits.dtype))

    def _follow(self, token: int) -> None:
        self._recent = [*self._recent, token][-max(len(self._start), len(self._end)) :]
        if not self._inside:
            if tuple(self._recent[-len(self._start) :]) == self._start:
                self._inside = True
            return
        if tuple(self._recent[-len(self._end) :]) == self._end or self._forced == len(self._end):
            self._inside = False
            self._closed = True  # one reasoning part per answer
            return
        if not self._forced:
            self._spent += 1
