"""Ollama's store: ``manifests/HOST/NAMESPACE/MODEL/TAG``, JSON naming ``blobs/sha256-HEX``.

A manifest is OCI-like: ``layers`` of ``{mediaType, digest, size}``; the weights are the layer of
media type ``application/vnd.ollama.image.model``, a GGUF. Its ``.template`` layer is a Go
template, not Jinja, so the GGUF's own ``tokenizer.chat_template`` is used instead.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pensieve_core import ModelNotFoundError
from pensieve_loader.stores.common import StoreGGUF, safe_name

PREFIX = "ollama:"
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
MODEL_LAYER = "application/vnd.ollama.image.model"
ADAPTER_LAYER = "application/vnd.ollama.image.adapter"
_SERVICE_DIR = Path("/usr/share/ollama/.ollama/models")
_PART = re.compile(r"^[\w.:-]+$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


def ollama_dir() -> Path:
    """``$OLLAMA_MODELS``, else ``~/.ollama/models`` (else the Linux service's, if only it exists)."""
    if env := os.environ.get("OLLAMA_MODELS"):
        return Path(env).expanduser()
    home = Path.home() / ".ollama" / "models"
    return _SERVICE_DIR if not home.is_dir() and _SERVICE_DIR.is_dir() else home


def parse_name(ref: str) -> tuple[str, str, str, str]:
    """``[HOST/][NAMESPACE/]MODEL[:TAG]`` as Ollama reads it: ``(host, namespace, model, tag)``."""
    head, _, last = ref.rpartition("/")
    model, _, tag = last.partition(":")
    parts = head.split("/") if head else []
    if (
        not model
        or len(parts) > 2
        or not all(_PART.match(p) and p not in (".", "..") for p in [*parts, model, tag or "x"])
    ):
        raise ModelNotFoundError(
            f"{PREFIX}{ref} is not an Ollama model name ([HOST/][NAMESPACE/]MODEL[:TAG])",
            model=PREFIX + ref,
        )
    host = parts[0] if len(parts) == 2 else DEFAULT_HOST
    namespace = parts[-1] if parts else DEFAULT_NAMESPACE
    return host, namespace, model, tag or "latest"


def short_name(host: str, namespace: str, model: str) -> str:
    """The name as ``ollama list`` shows it: host and namespace only when not the defaults."""
    if host == DEFAULT_HOST:
        return model if namespace == DEFAULT_NAMESPACE else f"{namespace}/{model}"
    return f"{host}/{namespace}/{model}"


def entries(root: Path) -> list[StoreGGUF]:
    """Every tagged model in ``root``, with its problem when its blob is absent or wrong."""
    found = []
    for manifest in sorted((root / "manifests").glob("*/*/*/*")):
        if manifest.is_file() and not manifest.name.startswith("."):
            host, namespace, model = manifest.parts[-4:-1]
            found.append(_entry(root, manifest, short_name(host, namespace, model)))
    return found


def locate(ref: str, root: Path) -> StoreGGUF:
    """The model ``ref`` names (``ollama:`` stripped), or a one-line error.

    Raises:
        ModelNotFoundError: no such store, model or tag (the error lists what there is).
        ModelFormatError: the manifest or blob is missing, damaged or not a plain model.
    """
    host, namespace, model, tag = parse_name(ref)
    name = short_name(host, namespace, model)
    spec = f"{PREFIX}{name}:{tag}"
    if not (root / "manifests").is_dir():
        raise ModelNotFoundError(
            f"{spec}: no Ollama store at {str(root)!r} (set OLLAMA_MODELS to Ollama's models "
            "directory)",
            model=spec,
        )
    model_dir = _child(_child(_child(root / "manifests", host), namespace), model)
    if not model_dir.is_dir():
        known = sorted({e.spec.removeprefix(PREFIX).rpartition(":")[0] for e in entries(root)})
        raise ModelNotFoundError(
            f"{spec}: Ollama has no model {name!r} in {str(root)!r} "
            f"(it has: {', '.join(known) or 'none'})",
            model=spec,
        )
    manifest = _child(model_dir, tag)
    if not manifest.is_file():
        tags = sorted(p.name for p in model_dir.iterdir() if p.is_file())
        raise ModelNotFoundError(
            f"{spec}: Ollama has no tag {tag!r} of {name!r} (tags: {', '.join(tags) or 'none'})",
            model=spec,
        )
    return _entry(root, manifest, name).usable()


def _child(parent: Path, name: str) -> Path:
    """``parent / name``, or its case-insensitive match (Ollama matches names so)."""
    exact = parent / name
    if exact.exists() or not parent.is_dir():
        return exact
    folded = name.casefold()
    return next((p for p in parent.iterdir() if p.name.casefold() == folded), exact)


def _entry(root: Path, manifest: Path, name: str) -> StoreGGUF:
    tag = manifest.name
    spec = f"{PREFIX}{name}:{tag}"
    model = name.rpartition("/")[2].removesuffix("-GGUF").removesuffix("-gguf")
    default = safe_name(model if tag == "latest" else f"{model}-{tag}")
    pull = f"`ollama pull {name}:{tag}` fetches it again"

    def broken(problem: str, path: Path = manifest, size: int = 0) -> StoreGGUF:
        return StoreGGUF(spec, path, size, default, problem=problem)

    try:
        data = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return broken(f"manifest {str(manifest)!r} is not readable JSON ({e})")
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return broken(f"manifest {str(manifest)!r} has no layers list")
    types = [layer.get("mediaType") for layer in layers if isinstance(layer, dict)]
    if ADAPTER_LAYER in types:
        return broken("it carries a LoRA adapter, which Pensieve cannot apply; import its base")
    if MODEL_LAYER not in types:
        return broken(f"its manifest has no {MODEL_LAYER} layer (no weights to convert)")
    layer = layers[types.index(MODEL_LAYER)]
    digest, size = layer.get("digest"), layer.get("size")
    match = _DIGEST.match(digest) if isinstance(digest, str) else None
    if match is None or not isinstance(size, int):
        return broken("its model layer has no sha256 digest and size")
    hex_digest = match.group(1)
    blob = root / "blobs" / f"sha256-{hex_digest}"
    if not blob.is_file() and (old := root / "blobs" / f"sha256:{hex_digest}").is_file():
        blob = old  # older Ollama versions named blobs with a colon
    if not blob.is_file():
        return broken(f"its blob {blob.name} is missing from {str(blob.parent)!r}; {pull}", blob)
    if (actual := blob.stat().st_size) != size:
        return broken(
            f"its blob {blob.name} has {actual:,} bytes, the manifest says {size:,} "
            f"(incomplete or damaged); {pull}",
            blob,
            actual,
        )
    if not os.access(blob, os.R_OK):
        return broken(f"its blob {str(blob)!r} is not readable by this user", blob, size)
    return StoreGGUF(spec, blob, size, default, sha256=hex_digest)
