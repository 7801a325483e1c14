"""Hugging Face repo ids, through ``huggingface_hub``'s own cache."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from pensieve_core import ModelNotFoundError

if TYPE_CHECKING:
    from huggingface_hub import HFCacheInfo

log = structlog.get_logger()

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What an MLX model needs; skips other frameworks' weights that repos often carry too.
_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer.model", "*.tiktoken", "*.txt", "*.py"]


def looks_like_repo_id(ref: str) -> bool:
    """``org/name`` that is not an existing local path."""
    return bool(_REPO_ID.match(ref)) and not Path(ref).exists()


def offline() -> bool:
    """Whether the hub must not be contacted (read at call time, unlike the hub's constant)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def default_hub_cache() -> Path:
    """The hub cache as huggingface_hub places it, read at call time.

    ``$HF_HUB_CACHE`` (or the older ``$HUGGINGFACE_HUB_CACHE``), else ``hub/`` in ``$HF_HOME``, else
    in ``$XDG_CACHE_HOME/huggingface`` or ``~/.cache/huggingface``. The hub's own constants are
    read once, when it is imported.
    """
    if env := os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    home = os.environ.get("HF_HOME") or os.path.join(cache_home, "huggingface")
    return Path(home).expanduser() / "hub"


def hub_snapshot(repo_id: str, *, cache_dir: Path | None = None, download: bool = True) -> Path:
    """The local snapshot of ``repo_id``: from the cache, or downloaded with a progress bar.

    Raises:
        ModelNotFoundError: not cached and offline (or ``download`` is false), or the download failed.
    """
    # Imported here: huggingface_hub is slow to import and most commands never need it.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    cache = str(cache_dir) if cache_dir else None
    try:
        return Path(
            snapshot_download(
                repo_id, allow_patterns=_PATTERNS, cache_dir=cache, local_files_only=True
            )
        )
    except LocalEntryNotFoundError:
        pass
    if offline() or not download:
        why = "HF_HUB_OFFLINE is set" if offline() else "downloads are disabled here"
        raise ModelNotFoundError(
            f"model {repo_id!r} is not in the Hugging Face cache and {why}; "
            f"run `pensieve models pull {repo_id}` with network access",
            model=repo_id,
        )
    log.info("model_download_started", repo_id=repo_id)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=_PATTERNS, cache_dir=cache))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
        raise ModelNotFoundError(f"could not download {repo_id!r}: {e}", model=repo_id) from e


def scan_hub_cache(cache_dir: Path | None) -> HFCacheInfo | None:
    """The hub cache as huggingface_hub reads it; ``None`` when there is no cache yet."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return None
    for warning in info.warnings:
        # A half-downloaded or hand-edited repo: listed as absent, as the hub itself treats it.
        log.debug("hub_cache_entry_skipped", error=str(warning))
    return info


def cached_repos(cache_dir: Path | None = None) -> list[tuple[str, Path]]:
    """``(repo_id, snapshot)`` of every model in the hub cache whose ``main`` has a config.json."""
    info = scan_hub_cache(cache_dir)
    repos = sorted(info.repos, key=lambda r: r.repo_id) if info is not None else []
    return [
        (repo.repo_id, revision.snapshot_path)
        for repo in repos
        if repo.repo_type == "model"
        for revision in repo.revisions
        if "main" in revision.refs and (revision.snapshot_path / "config.json").is_file()
    ]


def remove_cached_repo(repo_id: str, *, cache_dir: Path | None = None) -> Path:
    """Delete every cached revision of ``repo_id`` (huggingface_hub's own cache deletion).

    Raises:
        ModelNotFoundError: the repo is not in the cache.
    """
    info = scan_hub_cache(cache_dir)
    if info is not None:
        for repo in info.repos:
            if repo.repo_id == repo_id and repo.repo_type == "model":
                info.delete_revisions(*(r.commit_hash for r in repo.revisions)).execute()
                return Path(repo.repo_path)
    raise ModelNotFoundError(f"{repo_id!r} is not in the Hugging Face cache", model=repo_id)
