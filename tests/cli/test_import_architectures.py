"""``pensieve models import`` of a GGUF of each supported architecture, and of an unsupported one."""

from pathlib import Path
from typing import Any

import pytest

from pensieve_loader.gguf_archs import SUPPORTED_ARCHITECTURES
from tests.gguf_archs import (
    HF_CONFIGS,
    hf_checkpoint,
    hf_config,
    spm_vocab,
    tiny_bpe_vocab,
    train_spm,
    write_like_llama_cpp,
)

_SPM = {"llama", "mistral", "phi3", "gemma", "gemma2", "gemma3"}
_MODEL_TYPES = {
    "qwen2moe": "qwen2_moe",
    "qwen3moe": "qwen3_moe",
    "gemma3": "gemma3_text",
    "mistral": "llama",
    "llama3": "llama",
}


@pytest.fixture(name="sp", scope="module")
def _sp() -> Any:
    pytest.importorskip("sentencepiece")
    return train_spm()


def _gguf(tmp_path: Path, name: str, sp: Any, arch: str | None = None) -> Path:
    vocab = spm_vocab(sp) if name in _SPM else tiny_bpe_vocab()
    config = hf_config(name, len(vocab["tokens"]))
    gguf = tmp_path / f"Tiny-{name}.Q8_0.gguf"
    write_like_llama_cpp(gguf, name, config, hf_checkpoint(config), vocab, arch=arch)
    return gguf


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_import_each_architecture(run: Any, tmp_path: Path, sp: Any, name: str) -> None:
    gguf = _gguf(tmp_path, name, sp)
    env = {"PENSIEVE_MODELS_DIR": str(tmp_path / "models")}
    result = run("models", "import", str(gguf), env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"imported: tiny-{name} -> ")
    shown = run("models", "show", f"tiny-{name}", env=env)
    assert shown.exit_code == 0, shown.output
    assert f"architecture  {_MODEL_TYPES.get(name, name)}\n" in shown.output


def test_unsupported_architecture_fails_in_one_line(run: Any, tmp_path: Path, sp: Any) -> None:
    gguf = _gguf(tmp_path, "llama", sp, arch="mamba")
    result = run("models", "import", str(gguf), env={"PENSIEVE_MODELS_DIR": str(tmp_path / "m")})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: GGUF {str(gguf)!r} has architecture 'mamba', which Pensieve cannot convert "
        f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})\n"
    )
    assert not (tmp_path / "m" / "tiny-llama").exists()
