"""Long prompts prefilled beside the batch, one time slice at a time, short requests first.

mlx-lm's ``BatchGenerator`` prefills every new prompt in the same step as the batch's decode,
padded to the longest prompt's chunk: a 12k-token prompt stalls running streams for a whole chunk
per token, and a 4-token probe that arrives behind it is padded to that chunk and waits for the
long prompt's end. Here a long prompt is prefilled on its own plain KV cache, in chunks sized so
one takes about ``slice_s`` (from the measured rate), between the batch's decode steps; prompts of
short requests go first, and a finished prompt is handed to the batch generator with one token
left to decode, so nothing is prefilled twice.

While other sequences decode, the lane takes about ``share`` of the time: after a slice the
batch is owed decode steps for the rest before the next slice. One slice after every step let a
slice's floor of 64 tokens (1.5 s at a 4k-token position on 2 CPU cores) hold a running stream to
under a tenth of its speed for the whole prefill (docs/benchmarks.md, "Mixed load").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import mlx.core as mx

from pensieve_mlx.jobs import Job

_FIRST_CHUNK = 64
"""Tokens of the first slice, before any rate is measured."""
_MIN_CHUNK = 64
"""Smaller chunks lose throughput: SmolLM2 on 2 CPU cores at a 4k-token position prefills 44
tok/s in chunks of 64 and 48 in chunks of 128, but 30 in chunks of 16 (attention over the whole
context dominates each chunk, so little is gained from larger ones)."""


@dataclass(eq=False, slots=True)
class Prefill:
    """One prompt being prefilled: its job and the cache holding its first ``position`` tokens."""

    job: Job
    cache: list[Any]
    position: int

    @property
    def end(self) -> int:
        """Where prefilling stops: the batch generator decodes from the prompt's last token."""
        return len(self.job.prompt.tokens) - 1

    @property
    def done(self) -> bool:
        """Every prompt token but the last is in the cache."""
        return self.position >= self.end


class PrefillLane:
    """The prompts prefilled apart from the batch (owned by the worker thread)."""

    def __init__(
        self,
        model: Any,
        *,
        max_chunk: int,
        slice_s: float,
        short_tokens: int,
        paced: bool = True,
        share: float = 1.0,
    ) -> None:
        """``paced``: chunks sized to take about ``slice_s``; else always ``max_chunk``.

        ``share``: of the time while sequences decode (``due``); 1 gives a slice every step.
        """
        self._model = model
        self._max_chunk = max(max_chunk, _MIN_CHUNK)
        self._slice_s = slice_s
        self._paced = paced
        self._short_tokens = short_tokens
        self._prefills: list[Prefill] = []
        self._rate = 0.0
        """Prompt tokens per second of the last slice (0: not measured yet)."""
        self._share = share
        self._owed = 0.0
        """Seconds of decode steps owed to the batch before the next slice."""

    def __len__(self) -> int:
        return len(self._prefills)

    def add(self, job: Job, cache: list[Any], position: int) -> None:
        """Prefill ``job``'s prompt onto ``cache``, which holds its first ``position`` tokens."""
        self._prefills.append(Prefill(job, cache, position))

    def remove(self, job: Job) -> Prefill | None:
        """Take ``job``'s prefill out of the lane (None: it is not here)."""
        for p in self._prefills:
            if p.job is job:
                self._prefills.remove(p)
                return p
        return None

    def jobs(self) -> list[Job]:
        """The jobs prefilling here (a snapshot)."""
        return [p.job for p in list(self._prefills)]

    def clear(self) -> list[Prefill]:
        """Empty the lane; what it held."""
        taken, self._prefills = self._prefills, []
        return taken

    def short(self, job: Job) -> bool:
        """Requests that run ahead of long prefills (probes, titles, ``max_tokens`` <= 16)."""
        return job.max_tokens <= self._short_tokens

    def next(self) -> Prefill | None:
        """The prompt to advance: a short request's first, then in arrival order."""
        for p in self._prefills:
            if self.short(p.job):
                return p
        return self._prefills[0] if self._prefills else None

    def advance(self, prefill: Prefill, *, limit: int) -> None:
        """Prefill one slice of ``prefill``, never past ``limit`` (a boundary to stop at)."""
        size = self._chunk()
        end = min(prefill.position + size, prefill.end, limit)
        tokens = prefill.job.prompt.tokens[prefill.position : end]
        started = time.perf_counter()
        self._model(mx.array(tokens)[None], cache=prefill.cache)
        mx.eval([c.state for c in prefill.cache])
        elapsed = time.perf_counter() - started
        if elapsed > 0 and len(tokens) >= _MIN_CHUNK:
            self._rate = len(tokens) / elapsed
        self._owed = elapsed * (1 - self._share) / self._share
        prefill.position = end
        mx.clear_cache()  # the chunk's activations, as mlx-lm's prompt processing does

    def decoded(self, seconds: float) -> None:
        """Decode steps ran for ``seconds``: they pay off what the last slice owes."""
        self._owed -= seconds

    def due(self) -> bool:
        """Whether the next slice may run beside decoding sequences: their share was given."""
        return self._owed <= 0

    def take_done(self, prefill: Prefill) -> None:
        """Let a finished prefill go (the worker hands it to the batch generator)."""
        self._prefills.remove(prefill)

    def _chunk(self) -> int:
        if not self._paced:
            return self._max_chunk
        if not self._rate:
            return min(_FIRST_CHUNK, self._max_chunk)
        return max(_MIN_CHUNK, min(self._max_chunk, int(self._rate * self._slice_s)))
