"""The worker thread: the one thread that makes MLX calls, driving mlx-lm's BatchGenerator.

Requests arrive on a command queue; each loop iteration admits waiting requests into free
slots (reusing prefix caches), runs one batched step (short prompts' prefill and one decode token
for every active sequence), then one slice of a long prompt's prefill (``prefill.py``), and
pushes each request's events back to its asyncio queue.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import mlx.core as mx
import structlog
from mlx_lm.generate import BatchGenerator
from mlx_lm.models.cache import make_prompt_cache

from pensieve_core import (
    EngineError,
    EngineUnavailableError,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    PromptProgress,
)
from pensieve_mlx.config import MLXEngineConfig
from pensieve_mlx.distributed import Lockstep, RankState
from pensieve_mlx.draft import DraftModel
from pensieve_mlx.jobs import Job
from pensieve_mlx.lookup import PromptLookup
from pensieve_mlx.prefill import PrefillLane
from pensieve_mlx.prefill_budget import PrefillBudget
from pensieve_mlx.prefix_cache import KVCodec, PrefixCache, sliceable, snapshot
from pensieve_mlx.prefix_disk import DiskPrefixes
from pensieve_mlx.solo import Drafter, Solo

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class _Command:
    kind: Literal["submit", "cancel", "stop"]
    job: Job | None = None


class Worker:
    """Owns the model, the batch generator and the prefix cache.

    With ``lockstep`` it is one rank of a distributed group: rank 0 takes requests and tells the
    other ranks, before each iteration, which commands it took; a follower (``follow``: how it
    makes a request's job, as rank 0 did) runs the same iteration on them. Every decision of an
    iteration then depends on those commands alone, never on timing, so every rank makes the
    same MLX calls in the same order (their collectives meet).
    """

    def __init__(
        self,
        model: Any,
        eos_ids: frozenset[int],
        config: MLXEngineConfig,
        disk: DiskPrefixes | None = None,
        *,
        draft: Any = None,
        lockstep: Lockstep | None = None,
        follow: Callable[[GenerationRequest], Job] | None = None,
        warm_up: Callable[[Callable[[], bool]], bool] | None = None,
    ) -> None:
        self._model = model
        self._warm_up = warm_up
        """Runs the warm-up until it is done (True) or told it is interrupted (False)."""
        self.warming_up = warm_up is not None
        """Whether the warm-up has yet to complete (it runs while the worker is idle)."""
        self._admitted_any = False
        """Whether a request has been placed (its memory then counts in the peak)."""
        self._lockstep = lockstep
        self._follow = follow
        self._seq = itertools.count()
        self._followed: dict[int, Job] = {}
        """A follower's jobs by the number rank 0 gave them."""
        self._broken: str | None = None
        """Why the engine can no longer serve (its group lost a rank), once it cannot."""
        self.disk = disk
        self._eos_ids = eos_ids
        self._config = config
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._waiting: deque[Job] = deque()
        self._active: dict[int, Job] = {}
        self._budget = PrefillBudget(
            prompts=config.prefill_batch_size,
            tokens=config.prefill_batch_tokens,
            most=config.max_active_sequences,
        )
        """The batch's prompts not started yet: how many the next prefill pass takes."""
        self._lock = threading.Lock()
        self._queued = 0
        self.prefix_cache = PrefixCache(
            max_bytes=config.prefix_cache_bytes,
            max_entries=config.prefix_cache_entries,
            codec=KVCodec(bits=config.kv_bits),
        )
        self._generator: BatchGenerator
        """Made on the worker thread (``_run``)."""
        self._lane = PrefillLane(
            model,
            max_chunk=config.prefill_step_size,
            slice_s=config.prefill_slice_s,
            short_tokens=config.short_request_tokens,
            # Paced by measured speed alone, and shared by measured time: either would differ
            # between ranks, which must make the same calls.
            paced=lockstep is None,
            share=config.prefill_share if lockstep is None else 1.0,
        )
        self._solo: Solo | None = None
        """The one sequence decoding on the fast path (``solo.py``), when it is alone."""
        self._draft = DraftModel(draft) if draft is not None else None
        """The draft model, its cache kept across sequences (they share prefixes)."""
        self.drafted_tokens = 0
        """Draft tokens checked, over all sequences."""
        self.accepted_draft_tokens = 0
        """Draft tokens the model accepted, over all sequences."""
        self._started = threading.Event()
        self._start_error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="pensieve-mlx-worker", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error

    # --- called from other threads --------------------------------------------------------

    @property
    def queued(self) -> int:
        """Requests submitted and not yet decoding."""
        return self._queued

    @property
    def active(self) -> int:
        """Sequences admitted: in the batch or prefilling beside it."""
        return len(self._active) + len(self._lane) + (self._solo is not None)

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full.

        Raises:
            EngineUnavailableError: a rank of the engine's group is gone.
        """
        if self._broken is not None:
            raise EngineUnavailableError(self._broken)
        job.seq = next(self._seq)
        with self._lock:
            if self._queued >= self._config.max_queued_requests:
                return False
            self._queued += 1
        self._commands.put(_Command("submit", job))
        return True

    def cancel(self, job: Job) -> None:
        """Drop ``job``; its slot is freed before the next step."""
        job.cancelled = True
        self._commands.put(_Command("cancel", job))

    def stop(self) -> None:
        """Stop the thread after the current step."""
        self._commands.put(_Command("stop"))
        # A group that lost a rank may hold the worker in a collective that never completes.
        self._thread.join(timeout=30 if self._broken is None else 2)
        if self.disk is not None:
            self.disk.flush()  # snapshots still being written
        if self._lockstep is not None and self._lockstep.rank == 0:
            self._lockstep.close()

    def join(self) -> None:
        """Wait for the worker thread to end (a follower's: when rank 0 stops or is gone)."""
        self._thread.join()

    @property
    def broken(self) -> str | None:
        """Why the engine cannot serve, when a rank of its group is gone."""
        return self._broken

    def lose(self, state: RankState) -> None:
        """A rank of the group is gone: every request fails now, and every later one.

        Called on the thread that noticed; the worker itself may be waiting in a collective
        that will never complete, so the requests are failed from here.
        """
        self._broken = (
            f"rank {state.rank} of the distributed group ({state.host}, PID {state.pid}) "
            f"{state.why or 'is gone'}; restart the server"
        )
        error = EngineUnavailableError(self._broken)
        for job in self._in_flight():
            if not job.done:
                with contextlib.suppress(RuntimeError):  # the client's loop is gone
                    job.emit(error)
        self._commands.put(_Command("stop"))

    # --- the worker thread ----------------------------------------------------------------

    def _new_generator(self) -> BatchGenerator:
        return BatchGenerator(
            self._model,
            stop_tokens=[[e] for e in sorted(self._eos_ids)],
            completion_batch_size=self._config.max_active_sequences,
            prefill_batch_size=self._budget.count(),  # reset before every step (``_step``)
            prefill_step_size=self._config.prefill_step_size,
        )

    def _run(self) -> None:
        try:
            # Here, not in __init__: MLX streams belong to the thread that makes them (GPU
            # command encoders are per thread since MLX 0.31.2), and the batch generator makes
            # the stream every step of this thread runs on.
            self._generator = self._new_generator()
            if self._lockstep is not None:
                self._lockstep.stream = self._generator.stream
        except Exception as e:
            self._start_error = e
            return
        finally:
            self._started.set()
        while self._broken is None:
            idle = not self.active and not self._waiting
            if idle and self.warming_up:
                self._warm()
            try:
                if not self._handle_commands(self._take(block=idle)):
                    break
                self._admit()
                stepped = time.perf_counter()
                if self._active:
                    self._step()
                elif self._solo is not None:
                    self._solo_step()
                self._lane.decoded(time.perf_counter() - stepped)
                self._prefill_slice()
            except Exception as e:  # the worker boundary: fail the batch, keep serving
                log.error("engine_step_failed", exc_info=True, active=self.active)
                if self._lockstep is not None:
                    # A collective that failed leaves the group unusable: no more MLX calls.
                    self._broken = self.broken or f"the distributed group failed: {e}"
                    self._fail_all(EngineUnavailableError(self._broken))
                    break
                self._fail_all(EngineError(f"generation failed: {e}"))
        self._generator.close()

    def _warm(self) -> None:
        """Run the warm-up here while idle, giving way to the first command that arrives.

        On this thread, not before it starts: the engine's load returns and ``/health`` turns
        healthy while the GPU's kept kernels load (1.8 s of a 7B model's start on an H100). A
        request that arrives meanwhile stops it at its next step and is served; it runs again
        the next time the worker is idle, until it completes. A group's ranks run it whole:
        they must make the same MLX calls, and only rank 0 sees the requests.
        """
        if self._warm_up is None:
            return
        commands = self._commands
        alone = self._lockstep is None
        interrupted = (lambda: not commands.empty()) if alone else (lambda: False)
        try:
            done = self._warm_up(interrupted)
        except Exception:  # a model that cannot run fails its requests, with their errors
            log.warning("engine_warm_up_failed", exc_info=True)
            done = True
        if not self._admitted_any:  # the peak memory reported is the traffic's, not the warm-up's
            mx.reset_peak_memory()
        if done:
            self.warming_up = False

    def _take(self, *, block: bool) -> list[_Command]:
        """This iteration's commands (a follower: the ones rank 0 took for it)."""
        lockstep = self._lockstep
        if lockstep is not None and lockstep.rank > 0:
            return self._followed_commands(lockstep)
        if lockstep is not None and block:
            lockstep.publish([], park=True)  # parked on the doorbell, not spinning in a collective
        try:
            commands = [self._commands.get(block=block)]
        except queue.Empty:
            commands = []
        if self._broken is not None:  # lost a rank meanwhile: no collective would complete
            return [_Command("stop")]
        if lockstep is not None and block:
            lockstep.wake()
        # Woken from idle by a request: the others of a burst are still being rendered on
        # their threads. Started alone, the first would be prefilled on its own while they wait.
        woken = block and bool(commands) and commands[0].kind == "submit"
        window = self._config.arrival_window_s if woken else 0.0
        deadline = time.perf_counter() + 4 * window
        while commands and commands[-1].kind != "stop":
            wait = min(window, deadline - time.perf_counter())
            try:
                if wait > 0:
                    commands.append(self._commands.get(timeout=wait))
                else:
                    commands.append(self._commands.get_nowait())
            except queue.Empty:
                break
        if lockstep is not None:
            lockstep.publish([_entry(c) for c in commands])
        return commands

    def _followed_commands(self, lockstep: Lockstep) -> list[_Command]:
        while True:
            entries = lockstep.receive()
            if entries is not None:
                break
            if not lockstep.wait():
                return [_Command("stop")]
        assert self._follow is not None
        commands = []
        for kind, seq, request in entries:
            if kind == "submit":
                job = self._follow(request)
                job.seq = seq
                self._followed[seq] = job
                commands.append(_Command("submit", job))
            elif kind == "cancel" and seq in self._followed:
                job = self._followed.pop(seq)
                job.cancelled = True
                commands.append(_Command("cancel", job))
            elif kind == "stop":
                commands.append(_Command("stop"))
        self._followed = {seq: job for seq, job in self._followed.items() if not job.done}
        return commands

    def _handle_commands(self, commands: list[_Command]) -> bool:
        for command in commands:
            if command.kind == "stop":
                self._fail_all(EngineError("the engine is shutting down"))
                return False
            job = command.job
            assert job is not None
            if command.kind == "submit":
                self._waiting.append(job)
            else:
                self._drop(job)
        return True

    def _drop(self, job: Job) -> None:
        prefill = self._lane.remove(job)
        if self._solo is not None and self._solo.job is job:
            self._count_drafts(self._solo)
            self._store(self._solo.tokens, self._solo.cache)
            self._solo = None
        elif prefill is not None:
            # What was prefilled stays useful: a client that retries reads it from the cache.
            self._store(prefill.job.prompt.tokens[: prefill.position], prefill.cache)
        elif job.uid is not None and job.uid in self._active:
            self._store_all(self._generator.remove([job.uid], return_prompt_caches=True))
            del self._active[job.uid]
            self._budget.leave([job.uid])
        elif job in self._waiting:
            self._waiting.remove(job)
            self._dequeued()

    def _dequeued(self) -> None:
        with self._lock:
            self._queued -= 1

    def _admit(self) -> None:
        while self._waiting and self.active < self._config.max_active_sequences:
            job = self._waiting.popleft()
            try:
                # In a group, a cancellation counts from its command only (that is what the
                # other ranks see); here the flag is set on the request's thread, earlier.
                if not job.cancelled or self._lockstep is not None:
                    self._admit_one(job)
            finally:
                # Counted as queued until it is placed: its engine never looks idle meanwhile.
                self._dequeued()

    def _admit_one(self, job: Job) -> None:
        """Place ``job``: in the prefill lane, or in the batch generator."""
        self._admitted_any = True
        tokens = job.prompt.tokens
        cache, cached = self._fetch(tokens)
        job.cached_tokens = cached
        job.admitted = time.perf_counter()
        # The first event: the response can now say how much of the prompt was cached.
        job.emit([PromptProgress(cached, len(tokens))])
        # Alone, it is prefilled apart too: the fast path decodes from that plain cache.
        if len(tokens) - cached > self._config.long_prompt_tokens or self._alone():
            fresh = cache if cache is not None else make_prompt_cache(self._model)
            self._lane.add(job, fresh, cached)
        else:
            segments = _segments(tokens, cached, job.prompt.boundaries)
            self._insert(job, segments, cache, tokens[:cached], job.max_tokens)

    def _alone(self) -> bool:
        """Nothing else admitted or waiting, and the fast path is on."""
        return self._config.single_sequence_fast_path and not self.active and not self._waiting

    def _insert(
        self,
        job: Job,
        segments: list[list[int]],
        cache: list[Any] | None,
        tokens: list[int],
        max_tokens: int,
    ) -> None:
        """Hand ``job`` to the batch generator, ``tokens`` already in ``cache``."""
        if self._solo is not None:
            self._handoff()  # a second sequence: the one on the fast path joins the batch first
        (uid,) = self._generator.insert_segments(
            [segments],
            max_tokens=[max_tokens],
            caches=[cache] if cache is not None else None,
            all_tokens=[tokens],
            samplers=[job.sampler],
            logits_processors=[job.processors],
        )
        job.uid = uid
        self._active[uid] = job
        self._budget.add(uid, sum(len(s) for s in segments))

    def _count_drafts(self, solo: Solo) -> None:
        self.drafted_tokens += solo.drafted
        self.accepted_draft_tokens += solo.accepted

    def _drafter(self) -> Drafter | None:
        mode = self._config.drafting
        if mode == "prompt-lookup":
            return PromptLookup()
        return self._draft if mode == "draft-model" else None

    def _solo_step(self) -> None:
        solo = self._solo
        assert solo is not None
        with mx.stream(self._generator.stream):
            tokens = solo.step()
        events: list[GenerationEvent] = []
        for i, (token, reason) in enumerate(tokens):
            more, ended = self._on_token(solo.job, token, reason)
            events += more
            if ended is not None:
                with mx.stream(self._generator.stream):
                    solo.rewind(len(tokens) - 1 - i)  # a stop string ended it inside a draft
                self._solo = None
                self._count_drafts(solo)
                self._store(solo.tokens, solo.cache)
                break
        if events:
            self._send(solo.job, events)

    def _handoff(self) -> None:
        """Move the fast path's sequence into the batch generator, from its next token."""
        solo = self._solo
        assert solo is not None
        self._solo = None
        self._count_drafts(solo)
        with mx.stream(self._generator.stream):
            token, reason, handoff = solo.handoff()
        events, ended = self._on_token(solo.job, token, reason)
        if events:
            self._send(solo.job, events)
        if ended is not None or handoff is None:
            self._store(solo.tokens, solo.cache)
            return
        # The token was emitted here; as the segment's last token the batch feeds it, unsent.
        self._insert(solo.job, [[token]], handoff.cache, handoff.tokens, handoff.max_tokens)

    def _prefill_slice(self) -> None:
        """One slice of a long prompt's prefill, unless a short request is decoding."""
        decoding = [*self._active.values(), *([self._solo.job] if self._solo else [])]
        if any(self._lane.short(job) for job in decoding):
            return  # bounded: a short request decodes at most a few tokens
        if decoding and not self._lane.due():
            return  # the running streams' share of the time (``engine.prefill-share``)
        prefill = self._lane.next()
        if prefill is None:
            return
        tokens = prefill.job.prompt.tokens
        boundaries = [b for b in prefill.job.prompt.boundaries if b > prefill.position]
        advanced = not prefill.done
        if advanced:
            with mx.stream(self._generator.stream):
                self._lane.advance(prefill, limit=min(boundaries, default=prefill.end))
        job = prefill.job
        job.progress(
            prefill.position - job.cached_tokens,
            len(tokens) - job.cached_tokens,
            interval=self._config.progress_interval_s,
        )
        if advanced and prefill.position in job.prompt.boundaries:
            # A stable prefix's end (system prompt and tools): its own snapshot, on disk too.
            self._store(tokens[: prefill.position], snapshot(prefill.cache), persist=True)
        if prefill.done:
            self._lane.take_done(prefill)
            reused = not advanced  # all of it came from the prefix cache, which holds it
            at_boundary = prefill.position in job.prompt.boundaries
            if not sliceable(prefill.cache) and not reused and not at_boundary:
                # A cache that cannot be cut: the next turn can only reuse a snapshot.
                self._store(tokens[: prefill.position], snapshot(prefill.cache))
            if self._alone():
                with mx.stream(self._generator.stream):
                    self._solo = Solo(
                        self._model,
                        job,
                        prefill.cache,
                        self._eos_ids,
                        drafter=self._drafter(),
                        max_draft=self._config.speculation_max_tokens,
                    )
            else:
                position = prefill.position
                self._insert(
                    job, [tokens[position:]], prefill.cache, tokens[:position], job.max_tokens
                )

    def _fetch(self, tokens: list[int]) -> tuple[list[Any] | None, int]:
        """The cache for the longest cached prefix of ``tokens``, from memory or disk."""
        cache, cached = self.prefix_cache.fetch(tokens)
        if self.disk is not None and self.prefix_cache.enabled:
            entry = self.disk.lookup(tokens, longer_than=cached)
            if entry is not None:
                loaded = self.disk.load(entry, tokens)
                if loaded is not None:
                    self.prefix_cache.store(tokens[: entry.length], loaded)
                    cache, cached = self.prefix_cache.fetch(tokens)
        return cache, cached

    def _prefilled(self, prompt_responses: list[Any]) -> None:
        boundaries: list[int] = []
        for p in prompt_responses:
            job = self._active.get(p.uid)
            if job is not None and not p.end_of_prompt:
                job.progress(*p.progress, interval=self._config.progress_interval_s)
                if p.end_of_segment:
                    boundaries.append(p.uid)
        if boundaries:
            # The prefill reached a stable prefix's end: kept as its own snapshot, on disk too.
            # (The batch generator also ends a segment one token before the prompt's end.)
            for uid, (cache, tokens) in self._generator.extract_cache(boundaries).items():
                prompt = self._active[uid].prompt
                if len(tokens) in prompt.boundaries:
                    self._store(list(tokens), cache, persist=True)
                elif len(tokens) == len(prompt.tokens) - 1 and not sliceable(cache):
                    # All of the prompt but its last token: the next turn of the conversation
                    # starts with it, and a cache that cannot be cut can only reuse a snapshot.
                    self._store(list(tokens), cache)

    def _step(self) -> None:
        self._generator.prefill_batch_size = self._budget.count()
        prompt_responses, generation_responses = self._generator.next()
        self._budget.leave(p.uid for p in prompt_responses)
        self._prefilled(prompt_responses)
        early: dict[int, tuple[Job, list[GenerationEvent]]] = {}
        for r in generation_responses:
            job = self._active.get(r.uid)
            if job is None:
                continue
            events, ended = self._on_token(job, r.token, r.finish_reason)
            if ended == "early":
                early[r.uid] = (job, events)
                continue  # sent once the sequence has left the batch, as for other endings
            if ended == "finished":
                del self._active[r.uid]
                self._store(r.all_tokens, r.prompt_cache)
            if events:
                self._send(job, events)
        if early:
            # Ended before the generator's own checks: the generator still holds these.
            caches = self._generator.remove(list(early), return_prompt_caches=True)
            for uid in early:
                del self._active[uid]
            self._store_all(caches)
            for job, events in early.values():
                self._send(job, events)

    def _on_token(
        self, job: Job, token: int, finish_reason: str | None
    ) -> tuple[list[GenerationEvent], Literal["early", "finished"] | None]:
        """``job``'s events for ``token``, and how it ended.

        ``early``: a stop string or the one call a single-call answer may make ended it; the
        batch generator still holds it. ``finished``: the generator's own ending.
        """
        eos = finish_reason == "stop"
        events, matched = job.on_token(token, eos)
        if matched is not None or (finish_reason is None and job.router.calls_done):
            early: FinishReason = "stop" if matched is None else "stop_sequence"
            events += job.finish(early, matched, peak_memory=mx.get_peak_memory())
            return events, "early"
        if finish_reason is None:
            return events, None
        reason: FinishReason = "stop"
        if finish_reason == "length":
            reason = "context_window" if job.window_bound else "length"
        events += job.finish(reason, peak_memory=mx.get_peak_memory())
        return events, "finished"

    def _store_all(self, caches: dict[int, tuple[list[Any], list[int]]]) -> None:
        for cache, tokens in caches.values():
            self._store(list(tokens), cache)

    def _store(self, tokens: list[int], cache: list[Any], *, persist: bool = False) -> None:
        self.prefix_cache.store(tokens, cache)
        long_enough = len(tokens) >= self._config.prefix_cache_disk_min_tokens
        if persist and long_enough and self.disk is not None and self.prefix_cache.enabled:
            self.disk.save(tokens, cache)

    def _send(self, job: Job, events: list[GenerationEvent]) -> None:
        try:
            job.emit(events)
        except RuntimeError:  # the client's event loop is gone
            job.cancelled = True

    def _in_flight(self) -> list[Job]:
        """Every job admitted or waiting (a snapshot: other threads may call this)."""
        solo = self._solo
        return [
            *list(self._active.values()),
            *self._lane.jobs(),
            *([solo.job] if solo is not None else []),
            *list(self._waiting),
        ]

    def _fail_all(self, error: EngineError) -> None:
        jobs = self._in_flight()
        self._lane.clear()
        self._solo = None
        for job in jobs:
            if not job.cancelled:
                with contextlib.suppress(RuntimeError):  # the client's loop is gone
                    job.emit(error)
        if self._waiting:
            with self._lock:
                self._queued -= len(self._waiting)
        self._active.clear()
        self._budget.clear()
        self._waiting.clear()
        self._generator.close()
        self._generator = self._new_generator()
        mx.clear_cache()


def _segments(tokens: list[int], cached: int, boundaries: tuple[int, ...]) -> list[list[int]]:
    """The uncached rest of ``tokens``, cut at the boundaries it still has to reach."""
    cuts = [b for b in boundaries if cached < b < len(tokens) - 1]
    edges = [cached, *cuts, len(tokens)]
    return [tokens[a:b] for a, b in itertools.pairwise(edges)]


def _entry(command: _Command) -> tuple[str, int, GenerationRequest | None]:
    """``command`` as rank 0 tells the other ranks: its kind, job number and request."""
    job = command.job
    if job is None:
        return (command.kind, -1, None)
    return (command.kind, job.seq, job.request if command.kind == "submit" else None)
