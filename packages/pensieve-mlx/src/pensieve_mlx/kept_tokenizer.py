"""A model's tokenizer as mlx-lm builds it, kept in the cache directory across starts.

mlx-lm's ``load_tokenizer`` parses ``tokenizer.json`` three times in Python (once itself, twice
inside transformers), builds the Rust tokenizer from the parsed vocabulary and merges, then walks
the whole vocabulary three more times for its streaming detokenizer's token map and its thinking
and tool markers. What it builds is a plain object graph (transformers' tokenizer pickles its Rust
backend as that backend's own JSON), so the first start pickles it into the cache directory and
later ones unpickle it, which leaves the Rust build that any load pays: a later start of
Qwen2.5-Coder-0.5B (151,936 tokens) on 2 CPU cores took 2.20 s instead of 3.05 s, its tokenizer
0.52 s of it (docs/benchmarks.md, "Start-up: Intel(R) Xeon(R) Processor").

The file is named by everything the tokenizer is built from: the model directory's files other
than its weights (names, sizes, modification times), the end-of-sequence ids, and the versions of
Python, mlx-lm, transformers and tokenizers; a changed input is a different file, never a stale
one. Unpickling runs code the file names, so only Pensieve's own cache directory is read (the
same trust as the installed packages, written by this user, mode 0600), and any failure to read
it builds the tokenizer again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import structlog
from mlx_lm.utils import load_tokenizer

from pensieve_mlx.cache_files import write_whole

log = structlog.get_logger()

_WEIGHTS = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".npz")
"""Files a tokenizer is never built from (a changed weight file keeps the tokenizer)."""

_BUILDERS = ("mlx-lm", "transformers", "tokenizers")
"""The distributions whose code builds the kept object (and whose classes it names)."""

_FORMAT = "2"
"""Changed when what is kept changes (2: without the construction-only attributes)."""

_CONSTRUCTION_ONLY = ("_vocab", "_merges")
"""What transformers' BPE tokenizers keep of their construction and never read again (the Rust
tokenizer holds the vocabulary and merges): left out of the kept file, they are 40% of it and a
quarter of its read (Qwen2.5's 151,936 tokens on 2 CPU cores: 0.59 -> 0.45 s)."""


def kept_path(directory: Path, model: Path, eos_token_ids: Any) -> Path:
    """Where the tokenizer of ``model`` is kept in ``directory`` (named by its inputs)."""
    digest = hashlib.sha256(
        "\0".join(
            (
                _FORMAT,
                str(model.resolve()),
                repr(eos_token_ids),
                sys.version,
                str(pickle.HIGHEST_PROTOCOL),
                *(_version(name) for name in _BUILDERS),
            )
        ).encode()
    )
    for entry in sorted(model.iterdir()):
        if entry.is_file() and not entry.name.endswith(_WEIGHTS):
            stat = entry.stat()
            digest.update(f"\0{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return directory / f"{digest.hexdigest()[:24]}.pickle"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # not installed as a distribution
        return "unknown"


def load_kept_tokenizer(model: Path, eos_token_ids: Any, directory: Path | None) -> Any:
    """mlx-lm's ``TokenizerWrapper`` for ``model``: unpickled from ``directory`` if kept there.

    Without ``directory`` (or where it cannot be written) this is mlx-lm's ``load_tokenizer``.
    """
    if directory is None:
        return load_tokenizer(model, eos_token_ids=eos_token_ids)
    kept = kept_path(directory, model, eos_token_ids)
    try:
        with kept.open("rb") as file:
            if _ours(os.fstat(file.fileno())):
                return pickle.load(file)
            log.warning("kept_tokenizer_not_ours", path=str(kept))
    except FileNotFoundError:
        pass
    except Exception:  # any unpickling error: a damaged or foreign file is rebuilt below
        log.warning("kept_tokenizer_unreadable", path=str(kept), exc_info=True)
    tokenizer = load_tokenizer(model, eos_token_ids=eos_token_ids)
    _keep(tokenizer, kept)
    return tokenizer


def _ours(stat: os.stat_result) -> bool:
    """Whether a kept file is this user's and no one else's to write (so safe to unpickle).

    A cache directory set to a shared place (``$PENSIEVE_CACHE_DIR=/tmp/...``) could otherwise
    hold a file another user wrote under the predictable name.
    """
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def _keep(tokenizer: Any, kept: Path) -> None:
    """Pickle ``tokenizer`` to ``kept``, without what only its construction read."""
    inner = getattr(getattr(tokenizer, "_tokenizer", None), "__dict__", {})
    left_out = {name: inner[name] for name in _CONSTRUCTION_ONLY if name in inner}
    try:
        inner.update(dict.fromkeys(left_out))
        data = pickle.dumps(tokenizer, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        # A tokenizer that holds something unpicklable: built again at the next start.
        log.warning("tokenizer_not_kept", path=str(kept), exc_info=True)
        return
    finally:
        inner.update(left_out)
    try:
        write_whole(kept, data)
    except OSError:
        # A read-only cache: the next start builds it again, as without a cache.
        log.warning("tokenizer_not_kept", path=str(kept), exc_info=True)
