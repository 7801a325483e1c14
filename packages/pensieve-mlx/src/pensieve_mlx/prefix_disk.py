"""Prefix snapshots on disk, so that a restarted server finds the prompts it had read before.

One file per snapshot (a whole cache holding one token prefix, in mlx-lm's prompt-cache format),
named by the prefix's length and the hash of its tokens, in a directory per model identity.
Files are written by a background thread (a long prefix is hundreds of MB: writing it on the
worker thread would stall every running stream), to a temporary name and then renamed, so a
crash never leaves half a file under a real name. A file that does not load (truncated, foreign,
another format) is skipped with a warning and removed. The directory is bounded in bytes; the
least recently used files go first.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from mlx_lm.models.cache import load_prompt_cache, save_prompt_cache

log = structlog.get_logger()

_SUFFIX = ".safetensors"
FORMAT = "pensieve-prefix-1"


def prefix_digest(tokens: Sequence[int]) -> str:
    """The hash naming a token prefix."""
    return hashlib.sha256(np.asarray(tokens, dtype=np.int64).tobytes()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Entry:
    length: int
    digest: str
    path: Path


class DiskPrefixes:
    """The snapshots of one model in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path, *, identity: str, max_bytes: int) -> None:
        self.directory = directory
        self.identity = identity
        self.max_bytes = max_bytes
        self._index: dict[int, dict[str, _Entry]] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[list[int], list[Any]] | None] = queue.SimpleQueue()
        self._flushed = threading.Event()
        self.loads = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._scan()
        self._writer = threading.Thread(target=self._write_loop, name="pensieve-prefix-disk")
        self._writer.daemon = True
        self._writer.start()

    # --- the index ----------------------------------------------------------------------------

    def _scan(self) -> None:
        for path in self.directory.glob(f"*{_SUFFIX}"):
            if path.name.startswith("."):
                path.unlink(missing_ok=True)  # a write a crash cut short
                continue
            name = path.name.removesuffix(_SUFFIX)
            length, _, digest = name.partition("-")
            if not length.isdigit() or len(digest) != 32:
                log.warning("prefix_file_skipped", path=str(path), why="not a prefix snapshot name")
                continue
            self._add(_Entry(int(length), digest, path))

    def _add(self, entry: _Entry) -> None:
        with self._lock:
            self._index.setdefault(entry.length, {})[entry.digest] = entry

    def _drop(self, entry: _Entry) -> None:
        with self._lock:
            self._index.get(entry.length, {}).pop(entry.digest, None)
        entry.path.unlink(missing_ok=True)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._index.values())

    def lookup(self, tokens: Sequence[int], *, longer_than: int = 0) -> _Entry | None:
        """The longest snapshot of a prefix of ``tokens`` (leaving one token), if any."""
        with self._lock:
            lengths = sorted(
                (n for n in self._index if longer_than < n < len(tokens)), reverse=True
            )
            for n in lengths:
                entry = self._index[n].get(prefix_digest(tokens[:n]))
                if entry is not None:
                    return entry
        return None

    def load(self, entry: _Entry, tokens: Sequence[int]) -> list[Any] | None:
        """The cache in ``entry``, checked against ``tokens``.

        ``None`` (and the file removed) when it does not load or is not what its name says.
        """
        try:
            cache, metadata = load_prompt_cache(str(entry.path), return_metadata=True)
            stored = json.loads(metadata["tokens"])
            if metadata.get("format") != FORMAT or metadata.get("identity") != self.identity:
                raise ValueError("written for another model or format")
            if stored != list(tokens[: entry.length]):
                raise ValueError("its tokens are not the prefix its name says")
        except Exception as e:  # a bad file of any kind is skipped, never fatal
            log.warning("prefix_file_skipped", path=str(entry.path), why=str(e) or type(e).__name__)
            self._drop(entry)
            return None
        os.utime(entry.path)  # recently used: evicted last
        self.loads += 1
        return list(cache)

    # --- writing ------------------------------------------------------------------------------

    def save(self, tokens: Sequence[int], cache: list[Any]) -> None:
        """Write ``cache`` (holding exactly ``tokens``) in the background, unless it is there."""
        digest = prefix_digest(tokens)
        with self._lock:
            if digest in self._index.get(len(tokens), {}):
                return
        self._queue.put((list(tokens), cache))

    def flush(self) -> None:
        """Wait for the writes queued so far."""
        self._flushed = threading.Event()
        self._queue.put(None)
        self._flushed.wait(timeout=120)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._flushed.set()
                continue
            tokens, cache = item
            try:
                self._write(tokens, cache)
            except Exception:  # a full disk must not take the server down
                log.warning("prefix_file_not_written", exc_info=True, tokens=len(tokens))

    def _write(self, tokens: list[int], cache: list[Any]) -> None:
        digest = prefix_digest(tokens)
        final = self.directory / f"{len(tokens)}-{digest}{_SUFFIX}"
        temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp{_SUFFIX}")
        metadata = {"format": FORMAT, "identity": self.identity, "tokens": json.dumps(tokens)}
        save_prompt_cache(str(temporary), cache, metadata)
        os.replace(temporary, final)
        self._add(_Entry(len(tokens), digest, final))
        self._bound()

    def _bound(self) -> None:
        files = [
            (p.stat(), p) for p in self.directory.glob(f"*{_SUFFIX}") if not p.name.startswith(".")
        ]
        total = sum(s.st_size for s, _ in files)
        for stat, path in sorted(files, key=lambda f: f[0].st_mtime):
            if total <= self.max_bytes:
                break
            name = path.name.removesuffix(_SUFFIX)
            length, _, digest = name.partition("-")
            if length.isdigit():
                self._drop(_Entry(int(length), digest, path))
            else:
                path.unlink(missing_ok=True)
            total -= stat.st_size


def model_identity(model_dir: Path, precision: str) -> str:
    """What a snapshot depends on: the model's config, weights and precision.

    The weights are known by their names and sizes; how they are held matters because a
    dequantized model's KV differs from the quantized one's.
    """
    digest = hashlib.sha256(precision.encode())
    config = model_dir / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()
