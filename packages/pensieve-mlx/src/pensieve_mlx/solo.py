"""The single-sequence fast path: one sequence decoded the way ``mlx_lm.generate_step`` does.

mlx-lm's ``BatchGenerator`` decodes through a ``BatchKVCache``, which always hands attention an
array mask and per-row offsets, so even a batch of one leaves MLX's fused decode attention for
several unfused kernels per layer (measured on CUDA: 742 kernels per token instead of 571). While
one sequence is the whole batch, the worker decodes it here instead, on the plain KV cache its
prompt was prefilled into, with the next step queued before the current token is read back.
When a second request arrives, the sequence is handed to the batch generator (``handoff``) with
its cache and its next token, so neither sequence is dropped or prefilled again.

Same tokens as the batch generator: the same sampler and logits processors, called with the
same context (every token in the cache, the one just fed last), and the same endings (a stop
token, then ``max_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import TokenBuffer

from pensieve_mlx.jobs import Job


@dataclass(frozen=True, slots=True)
class Handoff:
    """What the batch generator needs to go on: the next token (already emitted) and the cache."""

    token: int
    cache: list[Any]
    tokens: list[int]
    """Every token in ``cache``."""
    max_tokens: int
    """Tokens still allowed after ``token``."""


class Solo:
    """One sequence decoding alone (owned by the worker thread)."""

    def __init__(self, model: Any, job: Job, cache: list[Any], eos_ids: frozenset[int]) -> None:
        self.job = job
        self.cache = cache
        self._model = model
        self._eos_ids = eos_ids
        prompt = job.prompt.tokens
        self.tokens = list(prompt[:-1])
        """Every token in the cache."""
        self._context = TokenBuffer(self.tokens) if job.processors else None
        self._generated = 0
        # The prompt's last token is fed first; its logits give the first generated token.
        self._pending = self._forward(mx.array(prompt[-1:]))
        self.tokens.append(prompt[-1])

    def step(self) -> tuple[int, str | None]:
        """The next token and its finish reason (``stop``, ``length`` or None)."""
        current = self._pending
        # Queued before the token is read back: the device works while the host streams it.
        following = self._forward(current)
        token = self._read(current)
        self.tokens.append(token)  # fed by the step just queued
        reason = self._ending(token)
        if reason is None:
            self._pending = following
        return token, reason

    def handoff(self) -> tuple[int, str | None, Handoff | None]:
        """Emit the pending token; unless it ends the sequence, what the batch goes on from."""
        token = self._read(self._pending)
        reason = self._ending(token)
        if reason is not None:
            return token, reason, None
        rest = self.job.max_tokens - self._generated
        return token, None, Handoff(token, self.cache, list(self.tokens), rest)

    def _read(self, pending: mx.array) -> int:
        token = pending.item()
        assert isinstance(token, int)  # a sampled token id
        self._generated += 1
        return token

    def _ending(self, token: int) -> str | None:
        if token in self._eos_ids:
            return "stop"
        if self._generated >= self.job.max_tokens:
            return "length"
        return None

    def _forward(self, token: mx.array) -> mx.array:
        """Feed ``token`` (shape ``(1,)``, maybe still on the device); sample the next one."""
        logits = self._model(token.reshape(1, 1), cache=self.cache)[:, -1, :]
        if self._context is not None:
            context = self._context.update_and_fetch(token)
            for processor in self.job.processors:
                logits = processor(context, logits)
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        sampled = self.job.sampler(logprobs)
        mx.async_eval(sampled)
        return sampled
