"""The model store: resolves model references and manages the models directory."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from pensieve_core import ModelFormatError, ModelNotFoundError
from pensieve_loader.embedded import DEFAULT_MODEL_NAME, embedded_gguf
from pensieve_loader.gguf_header import FloatType, conversion_problem, read_header_strings
from pensieve_loader.hub import (
    cached_repos,
    default_hub_cache,
    hub_snapshot,
    looks_like_repo_id,
    remove_cached_repo,
)
from pensieve_loader.paths import default_models_dir
from pensieve_loader.progress import Progress
from pensieve_loader.stores import (
    SPEC_SYNTAX,
    Importable,
    StoreGGUF,
    discover,
    is_store_spec,
    locate,
)
from pensieve_loader.stores.common import gguf_name, verify_sha256
from pensieve_loader.validate import ModelSummary, validate_model_dir

log = structlog.get_logger()

CONVERTER_VERSION = 2
"""Bumped when conversion output changes: models converted by an older one are converted again
(2: every GGML type stays quantized; every end-of-generation token is an EOS)."""

Source = Literal["embedded", "directory", "gguf", "store", "models-dir", "hub"]
_HEADER_KEYS = frozenset({"general.architecture", "tokenizer.ggml.model"})


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
    return gguf_name(gguf)


@dataclass(slots=True)
class ModelStore:
    """Resolves what users name as a model; converts GGUFs once into ``models_dir``."""

    models_dir: Path = field(default_factory=default_models_dir)
    hub_cache_dir: Path | None = field(default_factory=default_hub_cache)
    """The Hugging Face cache (default: where ``$HF_HUB_CACHE`` or ``$HF_HOME`` put it now)."""
    allow_download: bool = True
    progress: Progress | None = None
    """Told how a GGUF conversion advances (``None``: silent)."""

    def resolve(self, ref: str | None) -> ResolvedModel:
        """Resolve a model reference.

        ``ref`` is ``None`` (the embedded default), a directory, a ``.gguf``, a store's GGUF
        (``ollama:``, ``lmstudio:``, ``hf:``; see ``stores``), a name in the models directory, or
        a Hugging Face repo id.

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
        if is_store_spec(ref):
            return self.import_store(ref)
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
        self,
        gguf: Path,
        name: str | None = None,
        *,
        force: bool = False,
        dtype: FloatType | None = None,
    ) -> ResolvedModel:
        """Convert ``gguf`` into the models directory under ``name`` (floats if ``dtype``)."""
        if gguf.is_dir():
            raise ModelFormatError(
                f"{str(gguf)!r} is a directory, not a .gguf file (an MLX model directory is "
                "served as it is: `pensieve start --model DIR`)",
                path=str(gguf),
            )
        if not gguf.is_file():
            raise ModelNotFoundError(
                f"GGUF file {str(gguf)!r} does not exist (a store's GGUF is named {SPEC_SYNTAX})",
                model=str(gguf),
            )
        return self._convert_once(
            gguf, name or model_name_for(gguf), source="gguf", force=force, dtype=dtype
        )

    def import_store(
        self,
        spec: str,
        name: str | None = None,
        *,
        force: bool = False,
        dtype: FloatType | None = None,
    ) -> ResolvedModel:
        """Convert the GGUF a store keeps (``ollama:``, ``lmstudio:``, ``hf:`` spec) under ``name``.

        Raises:
            ModelNotFoundError: the store has no such model (the message lists what it has).
            ModelFormatError: the store's file is damaged, incomplete or not convertible.
        """
        found = locate(spec, hub_cache=self.hub_cache_dir)
        return self._convert_once(
            found.path, name or found.name, source="store", force=force, store=found, dtype=dtype
        )

    def importable(self) -> list[Importable]:
        """Every GGUF the stores hold, with its architecture, any objection, and its import."""
        listed = []
        for found in discover(hub_cache=self.hub_cache_dir):
            header = read_header_strings(found.path, _HEADER_KEYS)
            current = self._current(self.models_dir / found.name, self._stamp(found.path))
            listed.append(
                Importable(
                    gguf=found,
                    architecture=header.get("general.architecture", ""),
                    problem=found.problem or conversion_problem(header),
                    imported_as=found.name if not found.problem and current else None,
                )
            )
        return listed

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

    @staticmethod
    def _stamp(gguf: Path) -> dict[str, object]:
        """What ``pensieve.json`` records of the GGUF a model was converted from."""
        try:
            size = gguf.stat().st_size
        except OSError:
            size = -1
        return {"converted_from": gguf.name, "size": size, "converter": CONVERTER_VERSION}

    @staticmethod
    def _current(destination: Path, stamp: dict[str, object]) -> bool:
        """Whether ``destination`` holds a conversion of the GGUF ``stamp`` describes."""
        try:
            return bool(json.loads((destination / "pensieve.json").read_text()) == stamp)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False

    def _convert_once(
        self,
        gguf: Path,
        name: str,
        *,
        source: Source,
        force: bool = False,
        store: StoreGGUF | None = None,
        dtype: FloatType | None = None,
    ) -> ResolvedModel:
        destination = self.models_dir / name
        # A float conversion is another model than the quantized one of the same file.
        stamp = self._stamp(gguf) | ({"dtype": dtype} if dtype else {})
        if not force and self._current(destination, stamp):
            log.info("model_reused", name=name, path=str(destination))
            return ResolvedModel(name, validate_model_dir(destination), source)
        if store is not None and store.sha256 is not None:
            log.info("model_verifying", spec=store.spec, sha256=store.sha256)
            verify_sha256(gguf, store.sha256, store.spec)
        # Imported here: conversion pulls in numpy, gguf and tokenizers.
        from pensieve_loader.gguf_convert import convert_gguf

        log.info("model_converting", name=name, source=store.spec if store else gguf.name)
        convert_gguf(gguf, destination, progress=self.progress, dtype=dtype)
        (destination / "pensieve.json").write_text(json.dumps(stamp))
        return ResolvedModel(name, validate_model_dir(destination), source, converted=True)
