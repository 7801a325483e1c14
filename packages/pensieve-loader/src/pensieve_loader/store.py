"""The model store: resolves model references and manages the models directory."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from pensieve_core import ModelFormatError, ModelNotFoundError
from pensieve_loader.embedded import DEFAULT_MODEL_NAME, embedded_gguf
from pensieve_loader.hub import cached_repos, hub_snapshot, looks_like_repo_id, remove_cached_repo
from pensieve_loader.paths import default_models_dir
from pensieve_loader.progress import Progress
from pensieve_loader.validate import ModelSummary, validate_model_dir

log = structlog.get_logger()

CONVERTER_VERSION = 2
"""Bumped when conversion output changes: models converted by an older one are converted again
(2: every GGML type stays quantized; every end-of-generation token is an EOS)."""

Source = Literal["embedded", "directory", "gguf", "models-dir", "hub"]


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model reference turned into a validated MLX directory."""

    name: str
    """The name the server reports (directory name or repo id)."""
    summary: ModelSummary
    source: Source
    converted: bool = False
    """Whether this resolution converted a GGUF (false when an earlier conversion was reused)."""

    @property
    def path(self) -> Path:
        """The MLX model directory."""
        return self.summary.path


def model_name_for(gguf: Path) -> str:
    """A models-directory name for a GGUF file: lower-case stem without the quant suffix."""
    stem = re.sub(r"[.-](q\d\w*|f16|f32|bf16)$", "", gguf.stem, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "model"


@dataclass(slots=True)
class ModelStore:
    """Resolves what users name as a model; converts GGUFs once into ``models_dir``."""

    models_dir: Path = field(default_factory=default_models_dir)
    hub_cache_dir: Path | None = None
    """The Hugging Face cache; ``None`` means huggingface_hub's default."""
    allow_download: bool = True
    progress: Progress | None = None
    """Told how a GGUF conversion advances (``None``: silent)."""

    def resolve(self, ref: str | None) -> ResolvedModel:
        """Resolve a model reference.

        ``ref`` is ``None`` (the embedded default), a directory, a ``.gguf``, a name in the models
        directory, or a Hugging Face repo id.

        Raises:
            ModelNotFoundError: nothing matches ``ref``.
            ModelFormatError: the match is corrupt or incomplete.
        """
        if ref is None or ref in ("default", DEFAULT_MODEL_NAME):
            return self._convert_once(embedded_gguf(), DEFAULT_MODEL_NAME, source="embedded")
        path = Path(ref).expanduser()
        if path.is_dir():
            return ResolvedModel(path.name, validate_model_dir(path), "directory")
        if path.is_file() and path.suffix == ".gguf":
            return self._convert_once(path, model_name_for(path), source="gguf")
        if path.exists():
            raise ModelFormatError(
                f"{ref!r} is neither a model directory nor a .gguf file", path=ref
            )
        local = self.models_dir / ref
        if "/" not in ref and local.is_dir():
            return ResolvedModel(ref, validate_model_dir(local), "models-dir")
        if looks_like_repo_id(ref):
            snapshot = hub_snapshot(ref, cache_dir=self.hub_cache_dir, download=self.allow_download)
            return ResolvedModel(ref, validate_model_dir(snapshot), "hub")
        known = ", ".join(sorted(p.name for p in self._local_dirs())) or "none"
        raise ModelNotFoundError(
            f"model {ref!r} not found: not a directory, a .gguf file, a name in "
            f"{str(self.models_dir)!r} (known: {known}) or a Hugging Face repo id",
            model=ref,
        )

    def import_gguf(
        self, gguf: Path, name: str | None = None, *, force: bool = False
    ) -> ResolvedModel:
        """Convert ``gguf`` into the models directory under ``name``."""
        if not gguf.is_file():
            raise ModelNotFoundError(f"GGUF file {str(gguf)!r} does not exist", model=str(gguf))
        return self._convert_once(gguf, name or model_name_for(gguf), source="gguf", force=force)

    def pull(self, repo_id: str) -> ResolvedModel:
        """Download ``repo_id`` into the hub cache (or find it there) and validate it."""
        snapshot = hub_snapshot(repo_id, cache_dir=self.hub_cache_dir, download=self.allow_download)
        return ResolvedModel(repo_id, validate_model_dir(snapshot), "hub")

    def remove(self, name: str) -> Path:
        """Delete a model: a directory in the models directory, or a repo in the hub cache.

        Raises:
            ModelNotFoundError: no model of that name is stored.
        """
        local = self.models_dir / name
        if "/" not in name and name not in ("", ".", "..") and local.is_dir():
            shutil.rmtree(local)
            log.info("model_removed", name=name, path=str(local))
            return local
        for repo, _ in cached_repos(self.hub_cache_dir):
            if repo == name:
                removed = remove_cached_repo(repo, cache_dir=self.hub_cache_dir)
                log.info("model_removed", name=name, path=str(removed))
                return removed
        known = ", ".join(n for n, _ in self.list_models()) or "none"
        raise ModelNotFoundError(f"no stored model named {name!r} (stored: {known})", model=name)

    def list_models(self) -> list[tuple[str, ModelSummary | ModelFormatError]]:
        """Every model in the models directory and the hub cache, with its summary or its fault."""
        found: list[tuple[str, ModelSummary | ModelFormatError]] = []
        candidates = [(p.name, p) for p in self._local_dirs()]
        candidates += cached_repos(self.hub_cache_dir)
        for name, path in candidates:
            try:
                found.append((name, validate_model_dir(path)))
            except ModelFormatError as e:
                found.append((name, e))
        return found

    def _local_dirs(self) -> list[Path]:
        if not self.models_dir.is_dir():
            return []
        return sorted(
            p for p in self.models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def _convert_once(
        self, gguf: Path, name: str, *, source: Source, force: bool = False
    ) -> ResolvedModel:
        destination = self.models_dir / name
        stamp = {
            "converted_from": gguf.name,
            "size": gguf.stat().st_size,
            "converter": CONVERTER_VERSION,
        }
        marker = destination / "pensieve.json"
        if not force and marker.is_file():
            try:
                recorded = json.loads(marker.read_text())
            except json.JSONDecodeError:
                recorded = {}
            if recorded == stamp:
                log.info("model_reused", name=name, path=str(destination))
                return ResolvedModel(name, validate_model_dir(destination), source)
        # Imported here: conversion pulls in numpy, gguf and tokenizers.
        from pensieve_loader.gguf_convert import convert_gguf

        log.info("model_converting", name=name, source=gguf.name)
        convert_gguf(gguf, destination, progress=self.progress)
        marker.write_text(json.dumps(stamp))
        return ResolvedModel(name, validate_model_dir(destination), source, converted=True)
