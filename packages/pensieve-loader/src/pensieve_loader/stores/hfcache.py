"""GGUF files in the Hugging Face cache, read through huggingface_hub's ``scan_cache_dir``.

``models--ORG--NAME/snapshots/REVISION/FILE.gguf`` are symlinks into ``blobs/``, whose names are
the files' sha256 (checked before converting). Nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pensieve_core import ModelFormatError, ModelNotFoundError
from pensieve_loader.hub import scan_hub_cache
from pensieve_loader.stores.common import (
    StoreGGUF,
    by_repo,
    choose,
    gguf_name,
    is_projector,
    some,
    split_part,
    split_problem,
)

if TYPE_CHECKING:
    from huggingface_hub import CachedFileInfo, CachedRepoInfo, CachedRevisionInfo

PREFIX = "hf:"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def entries(cache: Path) -> list[StoreGGUF]:
    """Every GGUF model file of every cached model repo (its ``main``, else newest, revision)."""
    info = scan_hub_cache(cache)
    if info is None:
        return []
    found: list[StoreGGUF] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type == "model" and (files := _files(repo)):
            found += by_repo(PREFIX + repo.repo_id, files)
    return found


def locate(ref: str, cache: Path) -> StoreGGUF:
    """The GGUF ``ref`` (``hf:`` stripped) names: ``ORG/REPO`` holding one, or ``ORG/REPO/FILE``.

    Raises:
        ModelNotFoundError: the repo or file is not cached, or the repo holds several GGUFs.
        ModelFormatError: the cached repo is damaged, or the file is a projector or split GGUF.
    """
    parts = ref.strip("/").split("/")
    spec = PREFIX + "/".join(parts)
    if len(parts) < 2 or not all(parts):
        raise ModelNotFoundError(f"{PREFIX}{ref} is not ORG/REPO[/FILE.gguf]", model=spec)
    repo_id, file = "/".join(parts[:2]), "/".join(parts[2:])
    info = scan_hub_cache(cache)
    repos = [r for r in info.repos if r.repo_type == "model"] if info is not None else []
    repo = next((r for r in repos if r.repo_id == repo_id), None) or next(
        (r for r in repos if r.repo_id.casefold() == repo_id.casefold()), None
    )
    if repo is None:
        folder = "models--" + repo_id.replace("/", "--")
        for warning in info.warnings if info is not None else []:
            if folder.casefold() in str(warning).casefold():
                raise ModelFormatError(
                    f"{spec}: its Hugging Face cache entry is damaged ({warning})",
                    path=str(cache / folder),
                )
        known = sorted(r.repo_id for r in repos if _files(r))
        raise ModelNotFoundError(
            f"{spec}: {repo_id!r} is not in the Hugging Face cache {str(cache)!r} "
            f"(GGUF repos there: {some(known)})",
            model=spec,
        )
    files = _files(repo)
    if not file and not files:
        raise ModelNotFoundError(
            f"{spec}: {repo.repo_id!r} holds no GGUF file (an MLX repo is served by its id: "
            f"`pensieve start --model {repo.repo_id}`)",
            model=spec,
        )
    if not file:
        return choose(files, PREFIX + repo.repo_id)
    revision = _revision(repo)
    cached = {_relative(f, revision): f for f in revision.files} if revision else {}
    folded = file.casefold()
    match = cached.get(file) or next((f for n, f in cached.items() if n.casefold() == folded), None)
    if revision is None or match is None:
        choices = [f.spec.removeprefix(f"{PREFIX}{repo.repo_id}/") for f in files]
        raise ModelNotFoundError(
            f"{spec}: {repo.repo_id!r} has no cached file {file!r} (GGUF files: {some(choices)})",
            model=spec,
        )
    if (entry := _entry(repo, revision, match)) is None:
        raise ModelFormatError(
            f"{spec}: not a GGUF model file (a projector, or a later part of a split GGUF)",
            path=str(match.file_path),
        )
    return entry.usable()


def _revision(repo: CachedRepoInfo) -> CachedRevisionInfo | None:
    newest = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
    return next((r for r in newest if "main" in r.refs), newest[0] if newest else None)


def _relative(file: CachedFileInfo, revision: CachedRevisionInfo) -> str:
    return file.file_path.relative_to(revision.snapshot_path).as_posix()


def _files(repo: CachedRepoInfo) -> list[StoreGGUF]:
    revision = _revision(repo)
    if revision is None:
        return []
    ordered = sorted(revision.files, key=lambda f: _relative(f, revision))
    return [e for f in ordered if (e := _entry(repo, revision, f)) is not None]


def _entry(
    repo: CachedRepoInfo, revision: CachedRevisionInfo, file: CachedFileInfo
) -> StoreGGUF | None:
    part = split_part(file.file_name)
    if (
        not file.file_name.lower().endswith(".gguf")
        or is_projector(file.file_name)
        or (part is not None and part[0] != 1)
    ):
        return None
    blob = file.blob_path.name
    return StoreGGUF(
        f"{PREFIX}{repo.repo_id}/{_relative(file, revision)}",
        file.file_path,
        file.size_on_disk,
        gguf_name(file.file_path),
        sha256=blob if _SHA256.match(blob) else None,
        problem=split_problem(part[1]) if part is not None else "",
    )
