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

import time
from dataclasses import dataclass
from typing import Any, Protocol

import mlx.core as mx
from mlx_lm.models.cache import TokenBuffer

from pensieve_mlx.jobs import Job
from pensieve_mlx.lookup import Pacing

Step = list[tuple[int, str | None]]
"""Tokens a step emits, each with its finish reason (``stop``, ``length`` or None)."""


class Drafter(Protocol):
    """Where speculative drafts come from: prompt lookup (``lookup.py``), a draft model (``draft.py``)."""

    setup_s: float
    """Seconds the last ``draft`` spent on work that is not drafting (left out of the pacing)."""

    def start(self, tokens: list[int]) -> object:
        """A new sequence whose cache holds ``tokens``."""
        ...

    def extend(self, tokens: list[int]) -> None:
        """The sequence took ``tokens``."""
        ...

    def draft(self, last: int, limit: int) -> list[int]:
        """Up to ``limit`` tokens predicted to follow the context and then ``last``."""
        ...


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

    def __init__(
        self,
        model: Any,
        job: Job,
        cache: list[Any],
        eos_ids: frozenset[int],
        *,
        drafter: Drafter | None = None,
        max_draft: int = 0,
    ) -> None:
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
        # Drafts are checked against the greedy choice: for greedy, unconstrained sequences
        # (the sampler is the argmax, no processor sees the drafts).
        greedy = job.request.sampling.temperature <= 0 and not job.processors
        self._drafter = drafter if drafter is not None and max_draft and greedy else None
        if self._drafter is not None:
            self._drafter.start(self.tokens)
        self._pacing = Pacing(max_draft)
        self._last = time.perf_counter()
        self.drafted = 0
        """Draft tokens checked."""
        self.accepted = 0
        """Draft tokens the model agreed with (each one a forward pass saved)."""
        self._previous: tuple[int, int] | None = None
        """The last step's drafted and accepted tokens ((0, 0): plain), timed at the next."""

    def step(self) -> Step:
        """The tokens of one step: one, or with speculation a draft's accepted part too."""
        # Each step is timed up to the next one, host work in between included, for both kinds.
        now = time.perf_counter()
        if self._previous is not None:
            drafted, accepted = self._previous
            if drafted:
                self._pacing.drafted(drafted, accepted, now - self._last)
            else:
                self._pacing.plain(1, now - self._last)
        self._last, self._previous = now, None
        limit = self._pacing.wanted() if self._drafter is not None and self._trimmable() else 0
        if limit:
            return self._speculate(limit)
        current = self._pending
        # Queued before the token is read back: the device works while the host streams it.
        following = self._forward(current)
        token = self._read(current)
        self._fed([token])
        reason = self._ending(token)
        if reason is None:
            self._pending = following
        self._previous = (0, 0)
        return [(token, reason)]

    def rewind(self, count: int) -> None:
        """Drop the last ``count`` tokens from the cache (emitted tokens a stop string cut)."""
        if count > 0 and self._trimmable():
            for layer in self.cache:
                layer.trim(count)
            del self.tokens[-count:]

    def _speculate(self, limit: int) -> Step:
        """Feed the pending token and a draft in one pass; keep what the model agrees with."""
        assert self._drafter is not None
        token = self._read(self._pending)
        reason = self._ending(token)
        if reason is not None:
            return [(token, reason)]
        draft = self._drafter.draft(token, limit)
        self._last += self._drafter.setup_s  # catching up is not what the pacing weighs
        inputs = mx.array([[token, *draft]])
        logits = self._model(inputs, cache=self.cache)[0]
        choices = mx.argmax(logits, axis=-1).tolist()
        assert isinstance(choices, list)
        accepted = 0
        while accepted < len(draft) and draft[accepted] == choices[accepted]:
            accepted += 1
        for layer in self.cache:
            layer.trim(len(draft) - accepted)
        self.drafted += len(draft)
        self.accepted += accepted
        out: Step = [(token, None)]
        for kept in draft[:accepted]:
            self._generated += 1
            reason = self._ending(kept)
            out.append((kept, reason))
            if reason is not None:
                break
        self._fed([t for t, _ in out])
        self._pending = mx.array(choices[len(out) - 1 : len(out)])
        if len(out) < accepted + 1:  # ended inside the draft: the rest leaves the cache
            for layer in self.cache:
                layer.trim(accepted + 1 - len(out))
        if draft:
            self._previous = (len(draft), accepted)
        else:
            self._pacing.missed()
        return out

    def _fed(self, tokens: list[int]) -> None:
        self.tokens.extend(tokens)
        if self._drafter is not None:
            self._drafter.extend(tokens)

    def _trimmable(self) -> bool:
        return all(layer.is_trimmable() for layer in self.cache)

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
