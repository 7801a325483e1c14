"""Where models live."""

from pathlib import Path

import pytest

from pensieve_loader import paths


def test_env_names_the_models_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.MODELS_DIR_ENV, str(tmp_path))
    assert paths.default_models_dir() == tmp_path


def test_without_env_the_user_data_dir_not_the_source_tree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(paths.MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert paths.default_models_dir() == tmp_path / "data" / "pensieve" / "models"
