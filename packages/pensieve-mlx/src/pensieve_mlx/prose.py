"""How an answer starts: as prose (``tool-grammar=always`` after tool results), or with set text.

Under ``always`` a small model must call a tool until it has results, then answer in text so the
agent loop ends. Told not to open a call, small models (Qwen2.5-Coder-0.5B under Claude Code's
prompt) write the same call again as a bare or fenced JSON object, and the loop goes on. The
answer's first token is therefore kept from opening one: no JSON object or array, no code fence,
no call marker, no blank start and no empty answer. Only the first token is touched, so this
costs one masked step (a grammar over the whole answer would cost a mask every token).
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

OPENERS = ("{", "[", "`", "<tool_call>", "<function")
"""How a call (or a call written as text) begins."""


def prose_start_mask(tokenizer: Any, vocab_size: int, banned_ids: frozenset[int]) -> mx.array:
    """True for each token an answer may not start with (``banned_ids``: EOS, call markers)."""
    pieces = tokenizer.batch_decode([[i] for i in range(vocab_size)])
    banned = np.zeros(vocab_size, dtype=np.bool_)
    for i, piece in enumerate(pieces):
        text = piece.lstrip()
        banned[i] = not text or text.startswith(OPENERS) or i in banned_ids
    return mx.array(banned)


class ProseStart:
    """An mlx-lm logits processor that masks ``banned`` at the first generated token only."""

    def __init__(self, banned: mx.array) -> None:
        self._banned = banned
        self._first = True

    def __call__(self, context: mx.array, logits: mx.array) -> mx.array:
        """``logits`` with the banned tokens removed, on the first call."""
        if not self._first:
            return logits
        self._first = False
        width = logits.shape[-1]
        banned = self._banned[:width]
        return mx.where(banned, mx.array(-float("inf"), dtype=logits.dtype), logits)


class ForcedPrefix:
    """An mlx-lm logits processor that makes the first tokens ``ids``, then lets the model go.

    A request's ``answer_prefix`` (Claude Code's compaction must answer with a ``<summary>`` block;
    small models forget to). Only as many steps as the prefix has tokens are masked.
    """

    def __init__(self, ids: list[int]) -> None:
        self._ids = ids
        self._step = 0

    def __call__(self, context: mx.array, logits: mx.array) -> mx.array:
        """``logits`` with everything but the prefix's next token removed, while it lasts."""
        if self._step >= len(self._ids):
            return logits
        wanted = self._ids[self._step]
        self._step += 1
        keep = mx.arange(logits.shape[-1]) == wanted
        return mx.where(keep, logits, mx.array(-float("inf"), dtype=logits.dtype))
