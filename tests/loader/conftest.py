import shutil
from pathlib import Path

import pytest

from pensieve_loader.gguf_convert import convert_gguf
from tests.ggufs import smollm_vocab, write_tiny_llama


@pytest.fixture(name="vocab", scope="session")
def _vocab() -> dict[str, object]:
    return smollm_vocab()


@pytest.fixture(name="tiny_gguf_master", scope="session")
def _tiny_gguf_master(tmp_path_factory: pytest.TempPathFactory, vocab: dict[str, object]) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(path, vocab)
    return path


@pytest.fixture(name="tiny_model_master", scope="session")
def _tiny_model_master(tmp_path_factory: pytest.TempPathFactory, tiny_gguf_master: Path) -> Path:
    return convert_gguf(tiny_gguf_master, tmp_path_factory.mktemp("converted") / "tiny")


@pytest.fixture(name="tiny_gguf")
def _tiny_gguf(tmp_path: Path, tiny_gguf_master: Path) -> Path:
    """A private copy of a tiny random llama GGUF (Q4_1 matrices, Q8_0 embedding)."""
    return Path(shutil.copy(tiny_gguf_master, tmp_path / "tiny.gguf"))


@pytest.fixture(name="model_dir")
def _model_dir(tmp_path: Path, tiny_model_master: Path) -> Path:
    """A private copy of the tiny GGUF converted to an MLX directory."""
    return Path(shutil.copytree(tiny_model_master, tmp_path / "tiny"))
