"""Other applications' model stores laid out as they write them, around a given GGUF."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# An Ollama chat template: Go template syntax, which Pensieve never renders.
OLLAMA_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


def isolate_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point every store (and the hub cache) at empty directories under ``tmp_path``."""
    dirs = {
        "ollama": tmp_path / "ollama" / "models",
        "lmstudio": tmp_path / "lmstudio" / "models",
        "hf": tmp_path / "hf" / "hub",
    }
    monkeypatch.setenv("OLLAMA_MODELS", str(dirs["ollama"]))
    monkeypatch.setenv("PENSIEVE_LMSTUDIO_DIR", str(dirs["lmstudio"]))
    monkeypatch.setenv("HF_HUB_CACHE", str(dirs["hf"]))
    return dirs


def _blob(blobs: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / f"sha256-{digest}").write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def ollama_model(
    root: Path,
    gguf: Path,
    name: str = "qwen2.5-coder",
    tag: str = "0.5b",
    *,
    namespace: str = "library",
    host: str = "registry.ollama.ai",
    extra_layers: tuple[str, ...] = (),
) -> Path:
    """``ollama pull NAME:TAG``'s result: a manifest and its blobs. Returns the model blob."""
    blobs = root / "blobs"
    model = {"mediaType": "application/vnd.ollama.image.model", **_blob(blobs, gguf.read_bytes())}
    layers = [
        model,
        {
            "mediaType": "application/vnd.ollama.image.template",
            **_blob(blobs, OLLAMA_TEMPLATE.encode()),
        },
        {
            "mediaType": "application/vnd.ollama.image.params",
            **_blob(blobs, json.dumps({"stop": ["<|im_end|>"]}).encode()),
        },
        {"mediaType": "application/vnd.ollama.image.license", **_blob(blobs, b"Apache-2.0")},
    ]
    layers += [
        {"mediaType": media_type, **_blob(blobs, media_type.encode())}
        for media_type in extra_layers
    ]
    config = {
        "model_format": "gguf",
        "model_family": "llama",
        "model_families": ["llama"],
        "model_type": "1M",
        "file_type": "Q4_1",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            **_blob(blobs, json.dumps(config).encode()),
        },
        "layers": layers,
    }
    path = root / "manifests" / host / namespace / name / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    digest = str(model["digest"]).removeprefix("sha256:")
    return blobs / f"sha256-{digest}"


def lmstudio_file(root: Path, gguf: Path, rel: str) -> Path:
    """A GGUF as LM Studio downloads it: ``PUBLISHER/REPO/FILE.gguf`` under its models dir."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(gguf, path)
    return path


def hf_repo(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> Path:
    """``hf_hub_download`` of ``files``: blobs named by their sha256, snapshot symlinks to them.

    Returns the snapshot directory.
    """
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir(exist_ok=True)
    snapshot = repo / "snapshots" / commit
    for rel, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot
