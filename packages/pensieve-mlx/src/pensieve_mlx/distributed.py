"""One model over several processes: MLX's own distributed runtime (``mx.distributed``).

``mlx.launch`` starts every rank with ``MLX_RANK`` and the backend's host list in the
environment. Each rank loads the model and keeps its share of it: tensor parallel through the
model's own ``shard()`` (mlx-lm's llama, qwen2 and others: attention heads and MLP columns split,
two ``all_sum`` a layer), or pipeline parallel (layers split, mlx-lm's ``pipeline()`` where the
model has one, else the same split over ``send``/``recv`` here). Every rank computes the same
logits, so every rank samples the same token.

Rank 0 serves HTTP and schedules; the others run the same worker loop in lockstep, told before
each iteration what rank 0 admitted, cancelled or stopped (``Lockstep``: the frame itself goes
through ``mx.distributed`` too). A rank waiting in a collective spins, so an idle group parks
its followers on a plain socket instead (the *doorbell*, one byte, no data); the same socket is
how rank 0 learns at once that a follower died, and how followers report their memory.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import structlog

from pensieve_core import ModelLoadError
from pensieve_mlx.group_env import BACKEND_ENV, CONTROL_ENV, PARALLEL_ENV

log = structlog.get_logger()

Parallel = Literal["auto", "tensor", "pipeline"]

REPORT_INTERVAL_S: Final = 2.0
SILENT_LIMIT_S: Final = 15.0
"""A follower whose reports stop this long is taken for hung (its reporting thread runs beside
any step, so only a frozen process goes quiet): a collective with it would never complete."""
CONNECT_TIMEOUT_S: Final = 120.0

_PARK: Final = 1
"""Header flag: nothing to do; wait on the doorbell."""
_WAKE: Final = b"w"
_QUIT: Final = b"q"


def join_group() -> Any:
    """This process's group (``mx.distributed.init``, strict: a group that cannot form fails)."""
    backend = os.environ.get(BACKEND_ENV, "any") or "any"
    try:
        return mx.distributed.init(strict=True, backend=backend)
    except (RuntimeError, ValueError) as e:
        raise ModelLoadError(f"cannot join the distributed group ({backend}): {e}") from e


_MODES: Final[dict[str, Parallel]] = {"auto": "auto", "tensor": "tensor", "pipeline": "pipeline"}


def parallel_mode() -> Parallel:
    """The split the launcher asked for."""
    mode = os.environ.get(PARALLEL_ENV, "auto")
    if mode not in _MODES:
        raise ModelLoadError(f"unknown parallel mode {mode!r} (auto, tensor or pipeline)")
    return _MODES[mode]


def shard_model(model: nn.Module, group: Any, mode: Parallel) -> str:
    """Keep this rank's share of ``model``; which split was made (``tensor`` or ``pipeline``).

    Called before the weights are evaluated, so a rank never holds the others' shares.
    """
    size = group.size()
    reason = _tensor_refusal(model, size)
    if mode == "tensor" and reason:
        raise ModelLoadError(f"tensor parallel over {size} ranks: {reason}")
    if mode == "tensor" or (mode == "auto" and not reason):
        model.shard(group)
        return "tensor"
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if inner is None or not isinstance(layers, list) or len(layers) < size:
        raise ModelLoadError(f"pipeline parallel over {size} ranks: the model has too few layers")
    if hasattr(inner, "pipeline"):
        inner.pipeline(group)
    else:
        _pipeline_layers(inner, group)
    return "pipeline"


def _tensor_refusal(model: nn.Module, size: int) -> str:
    """Why ``model`` cannot be split by heads over ``size`` ranks ('' when it can)."""
    if not hasattr(model, "shard"):
        return f"mlx-lm's {type(model).__module__} has no shard()"
    args = vars(getattr(model, "args", None) or object())
    heads = int(args.get("num_attention_heads") or 0)
    kv_heads = int(args.get("num_key_value_heads") or heads)
    if heads % size or kv_heads % size:
        return f"{heads} attention heads and {kv_heads} KV heads do not divide by {size}"
    return ""


class _Stage(nn.Module):
    """One layer of this rank's slice, with the pipeline's hand-overs at the slice's ends.

    The same split as mlx-lm's ``PipelineMixin`` (rank N-1 runs the first layers, rank 0 the
    last), for models that have no ``pipeline()``: written here because mlx-lm offers it only
    per model class.
    """

    def __init__(self, layer: nn.Module, group: Any, *, first: bool, last: bool) -> None:
        super().__init__()
        self.layer = layer
        self.use_sliding = getattr(layer, "use_sliding", False)
        rank, size = group.rank(), group.size()
        self._group = group
        self._receive = first and rank < size - 1
        self._send = last and rank > 0
        self._gather = last and size > 1

    def __call__(self, h: mx.array, mask: Any = None, cache: Any = None) -> mx.array:
        group = self._group
        if self._receive:
            h = mx.distributed.recv_like(h, group.rank() + 1, group=group)
        h = self.layer(h, mask, cache=cache)
        if self._send:
            h = mx.distributed.send(h, group.rank() - 1, group=group)
            if cache is not None and getattr(cache, "keys", None) is not None:
                # Prefill evaluates only the caches' state: the send must be part of it.
                cache.keys = mx.depends(cache.keys, h)
        if self._gather:
            h = mx.distributed.all_gather(h, group=group)[: h.shape[0]]
        return h


def _pipeline_layers(inner: Any, group: Any) -> None:
    rank, size = group.rank(), group.size()
    count = len(inner.layers)
    base, extra = divmod(count, size)
    split = [base + (1 if i < extra else 0) for i in range(size)]
    start = sum(split[rank + 1 :])
    own = inner.layers[start : start + split[rank]]
    inner.layers = [
        _Stage(layer, group, first=i == 0, last=i == len(own) - 1) for i, layer in enumerate(own)
    ]
    sliding = [i for i, stage in enumerate(inner.layers) if stage.use_sliding]
    if hasattr(inner, "fa_idx"):
        inner.fa_idx = next((i for i in range(len(own)) if i not in sliding), 0)
    if hasattr(inner, "swa_idx") and sliding:
        inner.swa_idx = sliding[0]


# --- the control plane ------------------------------------------------------------------------


@dataclass(slots=True)
class RankState:
    """One rank as rank 0 sees it."""

    rank: int
    host: str
    pid: int
    active: int = 0
    """Bytes of MLX memory in use (the rank's last report)."""
    peak: int = 0
    alive: bool = True
    why: str = ""
    """How it was lost (``is gone``, ``stopped answering ...``)."""


class Lockstep:
    """What keeps the ranks' worker loops identical: one frame from rank 0 per iteration.

    Frames go through ``mx.distributed`` (an ``all_sum`` to which the followers add zeros: the
    runtime has no broadcast); the doorbell socket parks idle followers and watches liveness.
    """

    @classmethod
    def from_environment(cls, group: Any) -> Lockstep:
        """The lockstep of a rank ``mlx.launch`` started (rank 0's address from the launcher)."""
        return cls(group, os.environ[CONTROL_ENV])

    def __init__(self, group: Any, control: str) -> None:
        self.group = group
        self.rank: int = group.rank()
        self.size: int = group.size()
        host, _, port = control.rpartition(":")
        self._address = (host, int(port))
        self._peers: dict[int, socket.socket] = {}
        self._readers: dict[int, Any] = {}
        """Each follower's socket as a buffered reader (its hello line, then its reports)."""
        self.ranks: dict[int, RankState] = {}
        self._lost: Callable[[RankState], None] = lambda state: None
        self._socket: socket.socket | None = None
        self._closed = False
        self.parallel = ""
        """The split made (``tensor`` or ``pipeline``), once the model is loaded."""
        self.backend = os.environ.get(BACKEND_ENV, "") or "any"
        self.stream: Any = mx.cpu
        """Where frames go: the worker's own stream, so that they queue behind the model's
        collectives (steps are evaluated asynchronously) instead of overtaking them."""

    # --- set-up ---

    def connect(self) -> None:
        """Rank 0: wait for every follower; followers: reach rank 0 and report.

        Then every rank seeds MLX's generator alike, so that sampling draws the same tokens.
        """
        if self.rank == 0:
            self._accept_all()
        else:
            self._reach_rank0()
        seed = int.from_bytes(os.urandom(3)) if self.rank == 0 else 0
        shared = mx.distributed.all_sum(mx.array([seed]), group=self.group, stream=self.stream)
        mx.random.seed(int(np.array(shared)[0]))

    def watch(self, on_lost: Callable[[RankState], None]) -> None:
        """Rank 0: call ``on_lost`` (once per rank) when a follower goes."""
        self._lost = on_lost
        for rank, reader in self._readers.items():
            threading.Thread(
                target=self._watch, args=(rank, reader), name=f"pensieve-rank-{rank}", daemon=True
            ).start()

    def _accept_all(self) -> None:
        server = socket.create_server(self._address, reuse_port=False)
        server.settimeout(CONNECT_TIMEOUT_S)
        self.ranks[0] = RankState(0, socket.gethostname(), os.getpid())
        try:
            while len(self._peers) < self.size - 1:
                try:
                    peer, _ = server.accept()
                except TimeoutError:
                    missing = sorted(set(range(1, self.size)) - set(self._peers))
                    raise ModelLoadError(
                        f"rank(s) {missing} did not reach rank 0 at {self._address[0]}:"
                        f"{self._address[1]} within {CONNECT_TIMEOUT_S:.0f}s"
                    ) from None
                peer.settimeout(SILENT_LIMIT_S)
                reader = peer.makefile("rb")
                hello = json.loads(reader.readline())
                rank = int(hello["rank"])
                peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._peers[rank] = peer
                self._readers[rank] = reader
                self.ranks[rank] = RankState(rank, str(hello["host"]), int(hello["pid"]))
        finally:
            server.close()

    def _reach_rank0(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                sock = socket.create_connection(self._address, timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ModelLoadError(
                        f"rank {self.rank} cannot reach rank 0 at {self._address[0]}:"
                        f"{self._address[1]}"
                    ) from None
                time.sleep(0.1)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = {"rank": self.rank, "host": socket.gethostname(), "pid": os.getpid()}
        sock.sendall(json.dumps(hello).encode() + b"\n")
        self._socket = sock
        threading.Thread(target=self._report, name="pensieve-rank-report", daemon=True).start()

    # --- liveness and memory ---

    def _watch(self, rank: int, reader: Any) -> None:
        """Rank 0: a follower's reports; its socket closing, or going quiet, means it is lost."""
        state = self.ranks[rank]
        try:
            for line in reader:
                report = json.loads(line)
                state.active = int(report["active"])
                state.peak = int(report["peak"])
            state.why = "is gone"
        except TimeoutError:
            state.why = f"stopped answering ({SILENT_LIMIT_S:.0f} s without a report)"
        except (OSError, ValueError):
            state.why = "is gone"
        state.alive = False
        if not self._closed:
            log.error("rank_lost", rank=rank, host=state.host, pid=state.pid, why=state.why)
            self._lost(state)

    def _report(self) -> None:
        sock = self._socket
        assert sock is not None
        while True:
            report = {"active": mx.get_active_memory(), "peak": mx.get_peak_memory()}
            try:
                sock.sendall(json.dumps(report).encode() + b"\n")
            except OSError:
                return
            time.sleep(REPORT_INTERVAL_S)

    # --- frames ---

    def publish(self, entries: list[Any], *, park: bool = False) -> None:
        """Rank 0: this iteration's commands (or, with ``park``, that there are none for now)."""
        payload = pickle.dumps(entries) if entries else b""
        header = mx.array([len(payload), _PARK if park else 0], dtype=mx.int32)
        mx.eval(mx.distributed.all_sum(header, group=self.group, stream=self.stream))
        if payload:
            data = mx.array(np.frombuffer(payload, dtype=np.uint8))
            mx.eval(mx.distributed.all_sum(data, group=self.group, stream=self.stream))

    def receive(self) -> list[Any] | None:
        """A follower: the next frame's commands, None when rank 0 parks the group."""
        header = mx.distributed.all_sum(
            mx.zeros((2,), dtype=mx.int32), group=self.group, stream=self.stream
        )
        size, flags = (int(x) for x in np.array(header))
        if flags & _PARK:
            return None
        if not size:
            return []
        data = mx.distributed.all_sum(
            mx.zeros((size,), dtype=mx.uint8), group=self.group, stream=self.stream
        )
        # Pickled by rank 0 alone: only the group's own ranks take part in its collectives.
        entries: list[Any] = pickle.loads(np.array(data).tobytes())
        return entries

    def wake(self) -> None:
        """Rank 0: parked followers go back to their frames."""
        self._ring(_WAKE)

    def wait(self) -> bool:
        """A follower, parked: True when woken, False when rank 0 stopped or is gone."""
        sock = self._socket
        assert sock is not None
        try:
            bell = sock.recv(1)
        except OSError:
            bell = b""
        if bell == _WAKE:
            return True
        if bell != _QUIT:
            log.error("rank0_lost", rank=self.rank)
        return False

    def close(self) -> None:
        """Rank 0: followers stop (they are parked: the worker parks them when it stops)."""
        self._closed = True
        self._ring(_QUIT)
        for peer in self._peers.values():
            peer.close()

    def _ring(self, bell: bytes) -> None:
        for rank, peer in self._peers.items():
            try:
                peer.sendall(bell)
            except OSError:
                self.ranks[rank].alive = False

    def describe(self) -> str:
        """The split and the group, e.g. ``tensor parallel, 2 ranks, ring``."""
        return f"{self.parallel} parallel, {self.size} ranks, {self.backend}"
