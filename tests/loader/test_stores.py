"""Importing the GGUFs Ollama, LM Studio and the Hugging Face cache keep, in their real layouts."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from gguf import GGUFWriter

from pensieve_core import ModelFormatError, ModelNotFoundError, UnsupportedModelError
from pensieve_loader import ModelStore
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_loader.gguf_header import conversion_problem, read_header_strings
from pensieve_loader.stores import discover, is_store_spec, locate, store_dirs
from tests.store_layouts import hf_repo, isolate_stores, lmstudio_file, ollama_model

KEYS = frozenset({"general.architecture", "tokenizer.ggml.model"})


@pytest.fixture(name="dirs")
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    return isolate_stores(tmp_path, monkeypatch)


@pytest.fixture(name="store")
def _store(tmp_path: Path, dirs: dict[str, Path]) -> ModelStore:
    return ModelStore(models_dir=tmp_path / "models")


def _fails(kind: type[Exception], call: Callable[[], object], *fragments: str) -> None:
    """``call`` raises ``kind`` with a one-line message holding every fragment."""
    with pytest.raises(kind) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_store_dirs_follow_the_environment(dirs: dict[str, Path]) -> None:
    assert store_dirs() == dirs
    assert is_store_spec("ollama:qwen2.5-coder:0.5b")
    assert is_store_spec("hf:acme/tiny")
    assert not is_store_spec("acme/tiny")
    assert not is_store_spec("model.gguf")


def test_ollama_import_converts_the_blob_once(
    dirs: dict[str, Path], store: ModelStore, tiny_gguf: Path
) -> None:
    blob = ollama_model(dirs["ollama"], tiny_gguf)
    resolved = store.import_store("ollama:qwen2.5-coder:0.5b")
    assert resolved.name == "qwen2.5-coder-0.5b"
    assert resolved.converted
    assert resolved.source == "store"
    assert json.loads((resolved.path / "config.json").read_text())["model_type"] == "llama"
    # The GGUF's own Jinja template, not the manifest's Go template.
    template = json.loads((resolved.path / "tokenizer_config.json").read_text())["chat_template"]
    assert "<|im_start|>" in template
    assert "{{ .Role }}" not in template
    assert resolved.summary.architecture == "llama"
    again = store.resolve("ollama:qwen2.5-coder:0.5b")
    assert not again.converted
    assert again.path == resolved.path
    assert store.resolve("qwen2.5-coder-0.5b").path == resolved.path
    assert blob.is_file(), "the store is only read"
    # Ollama matches names case-insensitively.
    assert locate("ollama:Qwen2.5-Coder:0.5B").path == blob
    # mlx-lm loads what landed, and it computes finite logits.
    mx = pytest.importorskip("mlx.core")
    from pensieve_mlx.loading import load_model

    loaded = load_model(resolved.path, precision="float32")
    logits = loaded.model(mx.array([[1, 2, 3]]))
    assert bool(mx.isfinite(logits).all())


def test_ollama_names_latest_namespaces_and_hosts(dirs: dict[str, Path], tiny_gguf: Path) -> None:
    root = dirs["ollama"]
    latest = ollama_model(root, tiny_gguf, "tiny", "latest")
    found = locate("ollama:tiny")
    assert (found.path, found.name, found.spec) == (latest, "tiny", "ollama:tiny:latest")
    ollama_model(root, tiny_gguf, "tiny", "v1", namespace="alice")
    assert locate("ollama:alice/tiny:v1").name == "tiny-v1"
    ollama_model(root, tiny_gguf, "Tiny-GGUF", "Q4_1", namespace="acme", host="hf.co")
    hosted = locate("ollama:hf.co/acme/Tiny-GGUF:Q4_1")
    assert hosted.name == "tiny-q4_1"
    assert hosted.path.name == f"sha256-{hosted.sha256}"


def test_ollama_errors_are_one_line(
    dirs: dict[str, Path], store: ModelStore, tiny_gguf: Path
) -> None:
    _fails(
        ModelNotFoundError,
        lambda: locate("ollama:qwen2.5-coder"),
        "no Ollama store",
        "OLLAMA_MODELS",
    )
    root = dirs["ollama"]
    blob = ollama_model(root, tiny_gguf)
    ollama_model(root, tiny_gguf, "qwen2.5-coder", "latest")
    _fails(
        ModelNotFoundError,
        lambda: locate("ollama:qwen2.5-coder:7b"),
        "no tag '7b'",
        "(tags: 0.5b, latest)",
    )
    _fails(
        ModelNotFoundError, lambda: locate("ollama:llama3"), "no model 'llama3'", "qwen2.5-coder"
    )
    _fails(
        ModelNotFoundError, lambda: locate("ollama:../../etc:passwd"), "not an Ollama model name"
    )

    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    _fails(
        ModelFormatError,
        lambda: locate("ollama:qwen2.5-coder:0.5b"),
        "the manifest says",
        "ollama pull",
    )
    # Same size, one byte changed: the digest check refuses it before converting.
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    _fails(
        ModelFormatError,
        lambda: store.import_store("ollama:qwen2.5-coder:0.5b"),
        "sha256",
        "damaged",
    )
    assert not (store.models_dir / "qwen2.5-coder-0.5b").exists()
    blob.unlink()
    _fails(
        ModelFormatError,
        lambda: locate("ollama:qwen2.5-coder:0.5b"),
        f"blob {blob.name} is missing",
    )

    manifest = root / "manifests/registry.ollama.ai/library/qwen2.5-coder/latest"
    manifest.write_text("{not json")
    _fails(ModelFormatError, lambda: locate("ollama:qwen2.5-coder"), "not readable JSON")
    ollama_model(root, tiny_gguf, "tuned", extra_layers=("application/vnd.ollama.image.adapter",))
    _fails(ModelFormatError, lambda: locate("ollama:tuned:0.5b"), "LoRA adapter")


def test_lmstudio_repo_file_projector_and_choice(
    dirs: dict[str, Path], store: ModelStore, tiny_gguf: Path
) -> None:
    root = dirs["lmstudio"]
    _fails(ModelNotFoundError, lambda: locate("lmstudio:acme/Tiny-GGUF"), "PENSIEVE_LMSTUDIO_DIR")
    path = lmstudio_file(root, tiny_gguf, "acme/Tiny-GGUF/Tiny-Model-Q4_1.gguf")
    lmstudio_file(root, tiny_gguf, "acme/Tiny-GGUF/mmproj-Tiny-Model-f16.gguf")  # skipped
    resolved = store.import_store("lmstudio:acme/Tiny-GGUF")
    assert resolved.name == "tiny-model"
    assert resolved.converted
    assert locate("lmstudio:acme/Tiny-GGUF/Tiny-Model-Q4_1.gguf").path == path

    lmstudio_file(root, tiny_gguf, "acme/Tiny-GGUF/Tiny-Model-Q8_0.gguf")
    _fails(
        ModelNotFoundError,
        lambda: locate("lmstudio:acme/Tiny-GGUF"),
        "holds 2 GGUF files; name one",
        "lmstudio:acme/Tiny-GGUF/Tiny-Model-Q8_0.gguf",
    )
    _fails(
        ModelFormatError,
        lambda: locate("lmstudio:acme/Tiny-GGUF/mmproj-Tiny-Model-f16.gguf"),
        "projector",
    )
    _fails(
        ModelNotFoundError,
        lambda: locate("lmstudio:acme/Nope"),
        "no 'acme/Nope'",
        "acme/Tiny-GGUF/",
    )
    _fails(
        ModelNotFoundError,
        lambda: locate("lmstudio:../outside"),
        "not a path in LM Studio's models directory",
    )


def test_split_ggufs_are_refused_in_one_line(
    dirs: dict[str, Path], tmp_path: Path, tiny_gguf: Path
) -> None:
    for part in (1, 2):
        lmstudio_file(
            dirs["lmstudio"], tiny_gguf, f"acme/Big-GGUF/big-Q4_1-0000{part}-of-00002.gguf"
        )
    _fails(
        ModelFormatError,
        lambda: locate("lmstudio:acme/Big-GGUF"),
        "split into 2 files",
        "llama-gguf-split",
    )
    # The converter itself refuses a part (its header says so), whatever the file is called.
    piece = tmp_path / "piece.gguf"
    writer = GGUFWriter(str(piece), "llama")
    writer.add_uint16("split.no", 0)
    writer.add_uint16("split.count", 3)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedModelError, match="one of 3 parts"):
        convert_gguf(piece, tmp_path / "out")


def test_hf_cache_ggufs(dirs: dict[str, Path], store: ModelStore, tiny_gguf: Path) -> None:
    cache = dirs["hf"]
    data = tiny_gguf.read_bytes()
    snapshot = hf_repo(
        cache,
        "acme/Tiny-GGUF",
        {"tiny-model-Q4_1.gguf": data, "tiny-model-Q8_0.gguf": data + b"\0", "README.md": b"hi"},
    )
    hf_repo(cache, "acme/Solo-GGUF", {"solo.Q4_1.gguf": data})
    hf_repo(cache, "acme/tiny-mlx", {"config.json": b"{}"})
    _fails(
        ModelNotFoundError,
        lambda: locate("hf:acme/Tiny-GGUF"),
        "holds 2 GGUF files",
        "hf:acme/Tiny-GGUF/tiny-model-Q8_0.gguf",
    )
    resolved = store.import_store("hf:acme/Tiny-GGUF/tiny-model-Q4_1.gguf")
    assert resolved.name == "tiny-model"
    assert resolved.converted
    solo = locate("hf:acme/Solo-GGUF")
    assert (solo.spec, solo.name, solo.size) == ("hf:acme/Solo-GGUF", "solo", len(data))
    assert solo.path.is_symlink()
    _fails(
        ModelNotFoundError,
        lambda: locate("hf:acme/Tiny-GGUF/tiny-model-Q2_K.gguf"),
        "no cached file",
        "tiny-model-Q4_1.gguf",
    )
    _fails(
        ModelNotFoundError,
        lambda: locate("hf:acme/tiny-mlx"),
        "holds no GGUF file",
        "--model acme/tiny-mlx",
    )
    _fails(
        ModelNotFoundError,
        lambda: locate("hf:acme/absent"),
        "not in the Hugging Face cache",
        "acme/Solo-GGUF, acme/Tiny-GGUF",
    )

    # A blob changed on disk (same size): its name is its sha256, checked before converting.
    blob = (snapshot / "tiny-model-Q8_0.gguf").resolve()
    blob.write_bytes(b"\1" + data)
    _fails(
        ModelFormatError,
        lambda: store.import_store("hf:acme/Tiny-GGUF/tiny-model-Q8_0.gguf", "q8"),
        "sha256",
    )
    assert not (store.models_dir / "q8").exists()
    # A blob deleted under its symlink: huggingface_hub reports the repo damaged.
    blob.unlink()
    _fails(ModelFormatError, lambda: locate("hf:acme/Tiny-GGUF/tiny-model-Q4_1.gguf"), "damaged")


def test_discovery_lists_every_store(
    dirs: dict[str, Path], store: ModelStore, tiny_gguf: Path
) -> None:
    assert discover() == []
    ollama_model(dirs["ollama"], tiny_gguf)
    broken = ollama_model(dirs["ollama"], tiny_gguf, "tiny", "latest")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/tiny-Q4_1.gguf")
    lmstudio_file(dirs["lmstudio"], tiny_gguf, "acme/Tiny-GGUF/mmproj-f16.gguf")
    hf_repo(dirs["hf"], "acme/Solo-GGUF", {"solo.Q4_1.gguf": tiny_gguf.read_bytes()})
    store.import_store("lmstudio:acme/Tiny-GGUF")
    broken.unlink()  # shared with qwen2.5-coder:0.5b: both lose their blob
    other = tiny_gguf.parent / "other.gguf"
    shutil.copy(tiny_gguf, other)
    with other.open("ab") as f:
        f.write(b"\0")
    ollama_model(dirs["ollama"], other, "other")
    listed = {i.gguf.spec: i for i in store.importable()}
    assert sorted(listed) == [
        "hf:acme/Solo-GGUF",
        "lmstudio:acme/Tiny-GGUF",
        "ollama:other:0.5b",
        "ollama:qwen2.5-coder:0.5b",
        "ollama:tiny:latest",
    ]
    assert "is missing" in listed["ollama:tiny:latest"].problem
    good = listed["ollama:other:0.5b"]
    assert (good.architecture, good.problem, good.imported_as) == ("llama", "", None)
    assert listed["lmstudio:acme/Tiny-GGUF"].imported_as == "tiny"
    assert listed["hf:acme/Solo-GGUF"].gguf.size == tiny_gguf.stat().st_size


def test_header_reader(tmp_path: Path, tiny_gguf: Path, vocab: dict[str, object]) -> None:
    header = read_header_strings(tiny_gguf, KEYS)
    assert header == {"general.architecture": "llama", "tokenizer.ggml.model": "gpt2"}
    assert conversion_problem(header) == ""
    assert conversion_problem({"general.architecture": "mamba"}).startswith("architecture")
    assert conversion_problem({"general.architecture": "gemma3"}) == ""
    spm = {"general.architecture": "llama", "tokenizer.ggml.model": "llama"}
    assert conversion_problem(spm) == ""
    bert = {"general.architecture": "llama", "tokenizer.ggml.model": "bert"}
    assert "'bert' is not supported" in conversion_problem(bert)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 8)
    assert read_header_strings(junk, KEYS) == {}
    assert conversion_problem({}) == "not a readable GGUF file"
