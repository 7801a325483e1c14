"""GGUFs other applications keep, named by a spec that ``pensieve models import`` takes.

``ollama:NAME[:TAG]`` (Ollama's manifests and blobs), ``lmstudio:PUBLISHER/REPO[/FILE]`` (LM
Studio's models directory) and ``hf:ORG/REPO[/FILE]`` (GGUF files in the Hugging Face cache). The
stores are only read: converting copies the weights into the models directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pensieve_core import ModelNotFoundError
from pensieve_loader.hub import default_hub_cache
from pensieve_loader.stores import hfcache, lmstudio, ollama
from pensieve_loader.stores.common import StoreGGUF, verify_sha256
from pensieve_loader.stores.lmstudio import lmstudio_dir
from pensieve_loader.stores.ollama import ollama_dir

__all__ = (
    "SPEC_SYNTAX",
    "STORE_NAMES",
    "Importable",
    "StoreGGUF",
    "discover",
    "is_store_spec",
    "locate",
    "store_dirs",
    "verify_sha256",
)

STORE_NAMES = {"ollama": "Ollama", "lmstudio": "LM Studio", "hf": "the Hugging Face cache"}
SPEC_SYNTAX = "ollama:NAME[:TAG], lmstudio:PUBLISHER/REPO[/FILE] or hf:ORG/REPO[/FILE]"


@dataclass(frozen=True, slots=True)
class Importable:
    """A store's GGUF as ``pensieve models list --all`` shows it."""

    gguf: StoreGGUF
    architecture: str
    """``general.architecture`` from its header ("" when unreadable)."""
    problem: str
    """The store's or the converter's objection ("" when it should import)."""
    imported_as: str | None
    """The models-directory name it is already imported under, if any."""


def is_store_spec(ref: str) -> bool:
    """Whether ``ref`` names a store (``ollama:``, ``lmstudio:``, ``hf:``) rather than a path."""
    prefix, colon, _ = ref.partition(":")
    return bool(colon) and prefix in STORE_NAMES and not Path(ref).exists()


def store_dirs(hub_cache: Path | None = None) -> dict[str, Path]:
    """Where each store is looked for (``hub_cache`` overrides the hub's default)."""
    return {
        "ollama": ollama_dir(),
        "lmstudio": lmstudio_dir(),
        "hf": hub_cache or default_hub_cache(),
    }


def locate(spec: str, *, hub_cache: Path | None = None) -> StoreGGUF:
    """The GGUF ``spec`` names, checked against what its store records.

    Raises:
        ModelNotFoundError: the store, model, tag or file is not there, or a choice is needed.
        ModelFormatError: it is there but damaged, incomplete or not convertible.
    """
    prefix, _, ref = spec.partition(":")
    dirs = store_dirs(hub_cache)
    if prefix == "ollama":
        return ollama.locate(ref, dirs["ollama"])
    if prefix == "lmstudio":
        return lmstudio.locate(ref, dirs["lmstudio"])
    if prefix == "hf":
        return hfcache.locate(ref, dirs["hf"])
    raise ModelNotFoundError(f"{spec!r} names no store: use {SPEC_SYNTAX}", model=spec)


def discover(*, hub_cache: Path | None = None) -> list[StoreGGUF]:
    """Every GGUF model file found in the stores, broken ones with their problem."""
    dirs = store_dirs(hub_cache)
    return [
        *ollama.entries(dirs["ollama"]),
        *lmstudio.entries(dirs["lmstudio"]),
        *hfcache.entries(dirs["hf"]),
    ]
