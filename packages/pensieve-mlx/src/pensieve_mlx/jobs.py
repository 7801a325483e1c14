"""One request's state inside the worker: detokenizing, stop strings, routing, timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pensieve_core import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    PromptProgress,
    Timings,
    Usage,
)
from pensieve_mlx.prompt import RenderedPrompt
from pensieve_mlx.sampling import Sampler
from pensieve_mlx.stops import StopMatcher
from pensieve_mlx.text_stream import TextRouter

Emit = Callable[[list[GenerationEvent] | BaseException], None]


@dataclass(slots=True, eq=False)
class Job:
    """A request from submission to its ``Finished`` event."""

    request: GenerationRequest
    prompt: RenderedPrompt
    max_tokens: int
    sampler: Sampler
    processors: list[Any]
    detokenizer: Any
    router: TextRouter
    stops: StopMatcher
    emit: Emit = field(default=lambda item: None)
    """Hands events to the request's event loop (set by the generation handle)."""
    submitted: float = field(default_factory=time.perf_counter)
    uid: int | None = None
    seq: int = -1
    """Its number among the worker's jobs (how the ranks of a group name it to each other)."""
    cached_tokens: int = 0
    """Prompt tokens the prefix cache serves (set at admission, before the first event)."""
    caching: bool = False
    """The prompt will be kept in the prefix cache (what it adds is ``cache_write_tokens``)."""
    generated: int = 0
    admitted: float = 0.0
    first_token: float = 0.0
    last_token: float = 0.0
    last_progress: float = 0.0
    cancelled: bool = False
    done: bool = False
    window_bound: bool = False
    """``max_tokens`` is what the context window leaves (not what the request asked for)."""
    prefill_only: bool = False
    """``max_tokens: 0``: the batch generator makes one token (it cannot make none), unsent."""

    def progress(self, processed: int, total: int, *, interval: float) -> None:
        """Report prefill progress, at most once per ``interval`` seconds."""
        now = time.perf_counter()
        if now - self.last_progress >= interval:
            self.last_progress = now
            self.emit([PromptProgress(processed + self.cached_tokens, total + self.cached_tokens)])

    def on_token(self, token: int, eos: bool) -> tuple[list[GenerationEvent], str | None]:
        """Events for one generated token, and the stop sequence if one matched."""
        now = time.perf_counter()
        if not self.first_token:
            self.first_token = now
        self.last_token = now
        if self.prefill_only:
            return [], None
        self.generated += 1
        if eos:
            return [], None
        self.detokenizer.add_token(token)
        return self._route(self.detokenizer.last_segment)

    def _route(self, text: str) -> tuple[list[GenerationEvent], str | None]:
        emit, matched = self.stops.feed(text)
        events = self.router.feed(emit) if emit else []
        return events, matched

    def finish(
        self, reason: FinishReason, stop_sequence: str | None = None, *, peak_memory: int = 0
    ) -> list[GenerationEvent]:
        """Flush held text and build the ``Finished`` event."""
        self.done = True
        if self.prefill_only:
            reason = "length"
        events: list[GenerationEvent] = []
        if stop_sequence is None:
            self.detokenizer.finalize()
            tail, matched = self._route(self.detokenizer.last_segment)
            events += tail
            if matched is not None:
                reason, stop_sequence = "stop_sequence", matched
            else:
                events += self.router.feed(self.stops.flush())
        events += self.router.finish()
        if reason == "stop" and self.router.calls:
            reason = "tool_use"
        events.append(Finished(reason, self._usage(), stop_sequence, self._timings(peak_memory)))
        return events

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens this job adds to the prefix cache."""
        return len(self.prompt.tokens) - self.cached_tokens if self.caching else 0

    def _usage(self) -> Usage:
        return Usage(
            len(self.prompt.tokens), self.generated, self.cached_tokens, self.cache_write_tokens
        )

    def _timings(self, peak_memory: int) -> Timings:
        first = self.first_token or time.perf_counter()
        decode_s = self.last_token - first
        prefill_s = first - (self.admitted or self.submitted)
        fresh = len(self.prompt.tokens) - self.cached_tokens
        return Timings(
            queued_s=max(0.0, (self.admitted or first) - self.submitted),
            ttft_s=first - self.submitted,
            decode_tokens_per_s=(self.generated - 1) / decode_s if decode_s > 0 else 0.0,
            prefill_tokens_per_s=fresh / prefill_s if prefill_s > 0 else 0.0,
            peak_memory_bytes=peak_memory,
        )
