"""Where models live."""

from pathlib import Path

import pytest

from pensieve_loader import paths


def test_checkout_models_dir_and_env_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(paths.MODELS_DIR_ENV, raising=False)
    root = paths.checkout_root()
    assert root is not None
    assert paths.default_models_dir() == root / "models"
    monkeypatch.setenv(paths.MODELS_DIR_ENV, str(tmp_path))
    assert paths.default_models_dir() == tmp_path


def test_installed_at_a_shallow_path_is_not_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "__file__", "/site/pensieve_loader/paths.py")
    assert paths.checkout_root() is None
