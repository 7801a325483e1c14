"""Hugging Face repo ids resolve through a cache in the hub's own layout; nothing reaches a hub."""

import shutil
import time
from pathlib import Path

import pytest

from pensieve_core import ModelNotFoundError
from pensieve_loader import ModelStore

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(name="hub_cache")
def _hub_cache(tmp_path: Path, model_dir: Path) -> Path:
    model = model_dir
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-llama-4bit"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(model, repo / "snapshots" / COMMIT)
    return cache


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_repo_id_resolves_from_cache(hub_cache: Path, tmp_path: Path) -> None:
    store = ModelStore(models_dir=tmp_path / "models", hub_cache_dir=hub_cache)
    resolved = store.resolve("acme/tiny-llama-4bit")
    assert resolved.source == "hub"
    assert resolved.path == hub_cache / "models--acme--tiny-llama-4bit" / "snapshots" / COMMIT
    listed = dict(store.list_models())
    assert "acme/tiny-llama-4bit" in listed


def test_offline_and_not_cached_fails_fast(hub_cache: Path, tmp_path: Path) -> None:
    store = ModelStore(models_dir=tmp_path / "models", hub_cache_dir=hub_cache)
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        store.resolve("mlx-community/Phi-3-mini-128k-instruct-4bit")
    assert time.monotonic() - started < 5


def test_broken_or_absent_cache_entries_are_not_listed(hub_cache: Path, tmp_path: Path) -> None:
    dangling = hub_cache / "models--acme--half-downloaded"
    (dangling / "refs").mkdir(parents=True)
    (dangling / "refs" / "main").write_text("f" * 40)  # points at no snapshot
    (dangling / "snapshots").mkdir()
    (hub_cache / "version.txt").write_text("1")
    listed = ModelStore(models_dir=tmp_path / "models", hub_cache_dir=hub_cache).list_models()
    assert [name for name, _ in listed] == ["acme/tiny-llama-4bit"]
    empty = ModelStore(models_dir=tmp_path / "models", hub_cache_dir=tmp_path / "no-cache")
    assert empty.list_models() == []


def test_remove_deletes_the_cached_repo(hub_cache: Path, tmp_path: Path) -> None:
    store = ModelStore(models_dir=tmp_path / "models", hub_cache_dir=hub_cache)
    assert store.remove("acme/tiny-llama-4bit") == hub_cache / "models--acme--tiny-llama-4bit"
    assert store.list_models() == []
    with pytest.raises(ModelNotFoundError, match="no stored model named 'acme/tiny-llama-4bit'"):
        store.remove("acme/tiny-llama-4bit")
