"""`pensieve models import` from Ollama, LM Studio and the Hugging Face cache; `models list --all`."""

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.store_layouts import hf_repo, lmstudio_file, ollama_model


@pytest.fixture(name="tiny_gguf", scope="module")
def _tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(path, smollm_vocab())
    return path


@pytest.fixture(name="dirs")
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The stores conftest points at, and a private models directory (imports land there)."""
    monkeypatch.setenv("PENSIEVE_MODELS_DIR", str(tmp_path / "models"))
    return {
        "models": tmp_path / "models",
        "ollama": tmp_path / "ollama" / "models",
        "lmstudio": tmp_path / "lmstudio" / "models",
        "hf": tmp_path / "hf" / "hub",
    }


def _one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_import_from_each_store(run: Any, dirs: dict[str, Path], tiny_gguf: Path) -> None:
    ollama_model(dirs["ollama"], tiny_gguf)
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-lm-Q4_1.gguf")
    hf_repo(dirs["hf"], "acme/Tiny-GGUF", {"tiny-hf.Q4_1.gguf": tiny_gguf.read_bytes()})
    for source, name in (
        ("ollama:qwen2.5-coder:0.5b", "qwen2.5-coder-0.5b"),
        ("lmstudio:acme/Tiny-GGUF", "tiny-lm"),
        ("hf:acme/Tiny-GGUF", "tiny-hf"),
    ):
        result = run("models", "import", source)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"imported: {name} -> {dirs['models'] / name}\n"
        again = run("models", "import", source)
        assert again.stdout.startswith(f"already imported: {name}")
        shown = json.loads(run("models", "show", name, "--json").stdout)
        assert (shown["architecture"], shown["source"]) == ("llama", "models-dir")
    renamed = run("models", "import", "ollama:qwen2.5-coder:0.5b", "--name", "coder")
    assert renamed.exit_code == 0
    assert (dirs["models"] / "coder" / "config.json").is_file()
    listed = run("models", "list").stdout
    assert "qwen2.5-coder-0.5b" in listed
    assert "to import" not in listed


def test_list_all_shows_what_the_stores_hold(
    run: Any, dirs: dict[str, Path], tiny_gguf: Path
) -> None:
    empty = run("models", "list", "--all").stdout
    assert f"no GGUFs to import (Ollama: {dirs['ollama']}; LM Studio: {dirs['lmstudio']}" in empty
    ollama_model(dirs["ollama"], tiny_gguf)
    ollama_model(dirs["ollama"], tiny_gguf, "qwen2.5-coder", "latest")
    (dirs["ollama"] / "manifests/registry.ollama.ai/library/qwen2.5-coder/latest").write_text("{")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-Q4_1.gguf")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-Q8_0.gguf")
    hf_repo(dirs["hf"], "acme/Tiny-GGUF", {"tiny.Q4_1.gguf": tiny_gguf.read_bytes()})
    assert run("models", "import", "hf:acme/Tiny-GGUF").exit_code == 0
    table = run("models", "list", "--all").stdout.splitlines()
    header = table.index("to import (`pensieve models import SOURCE`):")
    rows = {line.split()[0]: line for line in table[header + 2 :]}
    assert sorted(rows) == [
        "hf:acme/Tiny-GGUF",
        "lmstudio:acme/Tiny-GGUF/tiny-Q4_1.gguf",
        "lmstudio:acme/Tiny-GGUF/tiny-Q8_0.gguf",
        "ollama:qwen2.5-coder:0.5b",
        "ollama:qwen2.5-coder:latest",
    ]
    assert rows["hf:acme/Tiny-GGUF"].split()[1] == "llama"
    assert rows["hf:acme/Tiny-GGUF"].endswith("imported as tiny")
    assert rows["ollama:qwen2.5-coder:0.5b"].endswith("imports as qwen2.5-coder-0.5b")
    assert "not readable JSON" in rows["ollama:qwen2.5-coder:latest"]
    listing = json.loads(run("models", "list", "--all", "--json").stdout)
    by_source = {i["source"]: i for i in listing["importable"]}
    assert by_source["ollama:qwen2.5-coder:0.5b"]["size_bytes"] == tiny_gguf.stat().st_size
    assert by_source["hf:acme/Tiny-GGUF"]["imported_as"] == "tiny"
    assert "importable" not in json.loads(run("models", "list", "--json").stdout)


def test_import_errors_are_one_line(run: Any, dirs: dict[str, Path], tiny_gguf: Path) -> None:
    _one_line_error(run("models", "import", "ollama:qwen2.5-coder"), "no Ollama store")
    blob = ollama_model(dirs["ollama"], tiny_gguf)
    _one_line_error(
        run("models", "import", "ollama:qwen2.5-coder:7b"), "no tag '7b'", "(tags: 0.5b)"
    )
    _one_line_error(run("models", "import", "ollama:llama3"), "no model 'llama3'")
    blob.write_bytes(blob.read_bytes()[:1000])
    _one_line_error(
        run("models", "import", "ollama:qwen2.5-coder:0.5b"), "has 1,000 bytes, the manifest says"
    )
    blob.unlink()
    _one_line_error(run("models", "import", "ollama:qwen2.5-coder:0.5b"), "is missing from")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-Q4_1.gguf")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-Q8_0.gguf")
    _one_line_error(
        run("models", "import", "lmstudio:acme/Tiny-GGUF"),
        "holds 2 GGUF files; name one: lmstudio:acme/Tiny-GGUF/tiny-Q4_1.gguf,",
    )
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Big/big-00001-of-00002.gguf")
    _one_line_error(run("models", "import", "lmstudio:acme/Big"), "split into 2 files")
    _one_line_error(run("models", "import", "hf:acme/absent"), "not in the Hugging Face cache")
    _one_line_error(run("models", "import", "missing.gguf"), "does not exist", "ollama:NAME")
    assert not dirs["models"].exists()
