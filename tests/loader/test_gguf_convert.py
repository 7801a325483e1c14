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
from pensieve_loader.gguf_quant import GROUP_SIZE, AffineTensor
from tests.ggufs import write_tiny_llama


def _dequantized(weights: dict[str, np.ndarray], module: str) -> np.ndarray:
    if f"{module}.scales" not in weights:
        return weights[f"{module}.weight"].astype(np.float32)
    cols = weights[f"{module}.scales"].shape[1] * GROUP_SIZE
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
        # Kept at its own width (5 bits), the embedding at 8.
        assert quant["bits"] == 5
        assert quant["model.embed_tokens"] == {"group_size": 32, "bits": 8}
        assert weights["model.layers.0.self_attn.q_proj.weight"].dtype == np.uint32
    elif matrix_type == "F32":
        # Float matrices stay dense; only the Q8_0 embedding is quantized.
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
    gguf = tmp_path / "wpm.gguf"
    write_tiny_llama(gguf, vocab, tokenizer_model="bert")
    with pytest.raises(UnsupportedModelError, match="tokenizer model 'bert'"):
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


# A Q4_K_M-style mix: widths differ between layers of one module and within one layer.
_MIXED = {
    "blk.0.attn_v.weight": GGMLQuantizationType.Q8_0,
    "blk.1.attn_v.weight": GGMLQuantizationType.Q5_0,
    "blk.0.ffn_down.weight": GGMLQuantizationType.Q6_K,
    "blk.1.ffn_down.weight": GGMLQuantizationType.Q4_K,
    "blk.0.attn_q.weight": GGMLQuantizationType.Q5_K,
    "blk.1.attn_k.weight": GGMLQuantizationType.Q3_K,
    "blk.1.ffn_gate.weight": GGMLQuantizationType.Q2_K,
    "blk.0.ffn_up.weight": GGMLQuantizationType.F32,
}


def test_mixed_types_stay_quantized_and_describe_each_module(
    tmp_path: Path, vocab: dict[str, object]
) -> None:
    gguf = tmp_path / "mixed.gguf"
    # 256 columns: K-quant super-blocks are 256 weights wide.
    hf = write_tiny_llama(
        gguf, vocab, hidden=256, matrix_type=GGMLQuantizationType.Q4_K, types=_MIXED
    )
    out = convert_gguf(gguf, tmp_path / "mixed")
    weights = load_file(str(out / "model.safetensors"))
    quant = json.loads((out / "config.json").read_text())["quantization"]
    assert quant["bits"] == 4
    assert quant["group_size"] == 32
    expected_bits = {
        "model.layers.0.self_attn.v_proj": 8,
        "model.layers.1.self_attn.v_proj": 5,
        "model.layers.0.mlp.down_proj": 6,
        "model.layers.1.mlp.down_proj": 4,
        "model.layers.0.self_attn.q_proj": 5,
        "model.layers.1.self_attn.k_proj": 3,
        "model.layers.1.mlp.gate_proj": 2,
        "model.embed_tokens": 8,
    }
    for module, bits in expected_bits.items():
        stated = quant.get(module, {"bits": quant["bits"]})
        assert stated["bits"] == bits, module
        packed, scales = weights[f"{module}.weight"], weights[f"{module}.scales"]
        assert packed.shape[1] * 32 // (scales.shape[1] * GROUP_SIZE) == bits, module
    assert quant["model.layers.0.mlp.up_proj"] is False
    assert weights["model.layers.0.mlp.up_proj.weight"].dtype == np.float16
    # Q comes back un-permuted from quantized rows (Q5_K keeps its grid: nearly exact).
    q_proj = "model.layers.0.self_attn.q_proj"
    want = hf[f"{q_proj}.weight"]
    np.testing.assert_allclose(_dequantized(weights, q_proj), want, atol=2e-3 * np.abs(want).max())
    for name, want in hf.items():
        if name.endswith("proj.weight"):
            got = _dequantized(weights, name.removesuffix(".weight"))
            assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.9, name
    # The validator accepts layers whose modules differ in format (issue 17's v_proj case).
    summary = ModelStore(models_dir=tmp_path).resolve(str(out)).summary
    assert summary.quantization == "4-bit +2-bit +3-bit +5-bit +6-bit +8-bit"
    # mlx-lm builds each module at its width, and the CPU policy (float32) computes the same.
    from pensieve_mlx.loading import load_model

    mx = pytest.importorskip("mlx.core")
    stored = load_model(out, precision="quantized")
    layers = stored.model.model.layers
    assert layers[0].mlp.down_proj.bits == 6
    assert layers[1].mlp.gate_proj.bits == 2
    assert not hasattr(layers[0].mlp.up_proj, "bits")
    dense = load_model(out, precision="float32")
    tokens = mx.array([[1, 2, 3, 4]])
    a = np.array(stored.model(tokens).astype(mx.float32))
    b = np.array(dense.model(tokens))
    np.testing.assert_allclose(a, b, atol=0.05 * np.abs(b).max())


def test_dtype_asks_for_floats_and_matches_the_quantized_model(
    tmp_path: Path, vocab: dict[str, object]
) -> None:
    from gguf import GGUFReader, dequantize

    gguf = tmp_path / "mixed.gguf"
    write_tiny_llama(gguf, vocab, hidden=256, matrix_type=GGMLQuantizationType.Q4_K, types=_MIXED)
    floats = convert_gguf(gguf, tmp_path / "floats", dtype="float32")
    config = json.loads((floats / "config.json").read_text())
    assert "quantization" not in config
    assert config["torch_dtype"] == "float32"
    weights = load_file(str(floats / "model.safetensors"))
    assert all(w.dtype == np.float32 for w in weights.values())
    assert not any(name.endswith(".scales") for name in weights)
    # Exactly gguf's own dequantized values (v_proj is not permuted).
    tensor = next(t for t in GGUFReader(str(gguf)).tensors if t.name == "blk.0.attn_v.weight")
    want = dequantize(np.asarray(tensor.data), tensor.tensor_type).reshape(
        tuple(int(d) for d in reversed(tensor.shape))
    )
    np.testing.assert_array_equal(weights["model.layers.0.self_attn.v_proj.weight"], want)
    # The store keeps the float conversion apart from the quantized one.
    store = ModelStore(models_dir=tmp_path / "models")
    assert store.import_gguf(gguf, "m").converted
    assert store.import_gguf(gguf, "m", dtype="float16").converted
    assert not store.import_gguf(gguf, "m", dtype="float16").converted


def test_unsupported_tensor_type_is_named(tmp_path: Path, vocab: dict[str, object]) -> None:
    gguf = tmp_path / "q8k.gguf"
    # Q8_K is llama.cpp's intermediate type, which the gguf package cannot dequantize.
    write_tiny_llama(
        gguf, vocab, hidden=256, types={"blk.1.attn_v.weight": GGMLQuantizationType.Q8_K}
    )
    with pytest.raises(UnsupportedModelError, match=r"'blk\.1\.attn_v\.weight' has type Q8_K"):
        convert_gguf(gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_large_models_are_written_in_shards(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pensieve_loader.gguf_convert.SHARD_BYTES", 200_000)
    out = convert_gguf(tiny_gguf, tmp_path / "sharded")
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) >= 2
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index.values()) == set(shards)
    assert "model.layers.1.mlp.down_proj.scales" in index
    summary = ModelStore(models_dir=tmp_path).resolve(str(out)).summary
    assert summary.quantization == "4-bit +8-bit"
