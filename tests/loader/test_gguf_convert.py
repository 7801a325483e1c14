"""GGUF conversion: tiny random GGUFs in llama.cpp's layout, and the corrupt cases."""

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from safetensors.numpy import load_file

from pensieve_core import ModelFormatError, ModelNotFoundError, UnsupportedModelError
from pensieve_loader import ModelStore
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_loader.gguf_quant import AffineTensor
from tests.ggufs import write_tiny_llama


def _dequantized(weights: dict[str, np.ndarray], module: str) -> np.ndarray:
    if f"{module}.scales" not in weights:
        return weights[f"{module}.weight"].astype(np.float32)
    cols = weights[f"{module}.scales"].shape[1] * 32
    bits = weights[f"{module}.weight"].shape[1] * 32 // cols
    return AffineTensor(
        weights[f"{module}.weight"], weights[f"{module}.scales"], weights[f"{module}.biases"], bits
    ).dequantize()


@pytest.mark.parametrize("matrix_type", ["Q4_0", "Q4_1", "Q8_0", "Q5_0", "F32"])
def test_conversion_restores_hf_layout(
    tmp_path: Path, vocab: dict[str, object], matrix_type: str
) -> None:
    gguf = tmp_path / "tiny.gguf"
    hf = write_tiny_llama(gguf, vocab, matrix_type=GGMLQuantizationType[matrix_type])
    out = convert_gguf(gguf, tmp_path / "tiny")
    weights = load_file(str(out / "model.safetensors"))
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["num_key_value_heads"] == 2
    assert config["tie_word_embeddings"] is True
    for module in (
        "model.layers.0.self_attn.q_proj",
        "model.layers.1.self_attn.k_proj",
        "model.layers.0.mlp.down_proj",
    ):
        expected = hf[f"{module}.weight"]
        got = _dequantized(weights, module)
        # Q/K come back un-permuted: equal to the HF-layout input up to quantization error.
        tolerance = 0.02 if matrix_type != "F32" else 1e-3
        assert np.abs(got - expected).max() < tolerance * 10, module
        assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99
    quant = config.get("quantization")
    if matrix_type in ("Q4_0", "Q4_1"):
        assert quant["bits"] == 4
        assert quant["model.embed_tokens"] == {"group_size": 32, "bits": 8}
    elif matrix_type == "Q5_0":
        # Not repackable: dequantized to float16 and marked unquantized per module.
        assert quant["bits"] == 8
        assert quant["model.layers.0.self_attn.q_proj"] is False
        assert weights["model.layers.0.self_attn.q_proj.weight"].dtype == np.float16


def test_tokenizer_files_and_template(model_dir: Path) -> None:
    out = model_dir
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["eos_token"] == "<|im_end|>"
    assert "<|im_start|>" in tok_config["chat_template"]


def test_truncated_gguf(tmp_path: Path, tiny_gguf: Path) -> None:
    gguf = tiny_gguf
    data = gguf.read_bytes()
    gguf.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match=r"tiny\.gguf"):
        convert_gguf(gguf, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [gguf], "no partial output may remain"


def test_unsupported_architecture(tmp_path: Path, vocab: dict[str, object]) -> None:
    gguf = tmp_path / "other.gguf"
    write_tiny_llama(gguf, vocab, arch="mamba")
    with pytest.raises(UnsupportedModelError, match="architecture 'mamba'"):
        convert_gguf(gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_tokenizer_model(tmp_path: Path, vocab: dict[str, object]) -> None:
    gguf = tmp_path / "spm.gguf"
    write_tiny_llama(gguf, vocab, tokenizer_model="llama")
    with pytest.raises(UnsupportedModelError, match="tokenizer model 'llama'"):
        convert_gguf(gguf, tmp_path / "out")


def test_failure_mid_write_leaves_nothing(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tiny_gguf

    def boom(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("pensieve_loader.gguf_convert.save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        convert_gguf(gguf, tmp_path / "models" / "tiny")
    assert list((tmp_path / "models").iterdir()) == []


def test_import_then_reuse(tmp_path: Path, tiny_gguf: Path) -> None:
    gguf = tiny_gguf.rename(tmp_path / "Tiny-Model.Q4_1.gguf")
    store = ModelStore(models_dir=tmp_path / "models")
    first = store.import_gguf(gguf)
    assert first.name == "tiny-model"
    assert first.converted
    mtime = (first.path / "model.safetensors").stat().st_mtime_ns
    again = store.resolve(str(gguf))
    assert not again.converted
    assert (again.path / "model.safetensors").stat().st_mtime_ns == mtime
    assert store.resolve("tiny-model").path == first.path
    with pytest.raises(ModelNotFoundError, match="tiny-model"):
        store.resolve("nope")
