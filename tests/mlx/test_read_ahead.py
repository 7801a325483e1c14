"""Weights read ahead (while the engine is imported) are the ones the loaded model holds."""

import json
import shutil
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from pensieve_mlx.loading import load_model
from pensieve_mlx.read_ahead import ReadAhead, read_ahead, weight_files


def _logits(model: nn.Module) -> mx.array:
    out: mx.array = model(mx.array([[1, 2, 3, 4]]))
    mx.eval(out)
    return out


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _zero_embeddings(path: Path) -> None:
    """Rewrite ``path``'s weights with the embeddings zeroed (other logits from now on)."""
    for file in weight_files(path):
        weights = mx.load(str(file))
        assert isinstance(weights, dict)
        zeroed = {k: v * 0 if "embed" in k else v for k, v in weights.items()}
        mx.save_safetensors(str(file), zeroed)


def test_the_model_holds_the_arrays_read_ahead(tiny_model_path: Path, tmp_path: Path) -> None:
    expected = _logits(load_model(tiny_model_path, "quantized").model)
    model = _copy(tiny_model_path, tmp_path / "model")
    read = read_ahead(model, "quantized")
    assert read is not None
    read.wait()
    # Changed on disk after the read: mlx-lm's own (lazy) arrays would now give other logits.
    _zero_embeddings(model)
    loaded = load_model(model, "quantized", read=read)
    assert mx.allclose(_logits(loaded.model), expected).item()
    assert read.take() is None  # handed over once; nothing is held twice
    assert not mx.allclose(_logits(load_model(model, "quantized").model), expected).item()


def test_arrays_of_another_shape_are_not_used(tiny_model_path: Path, tmp_path: Path) -> None:
    other = _copy(tiny_model_path, tmp_path / "other")
    for file in weight_files(other):
        weights = mx.load(str(file))
        assert isinstance(weights, dict)
        norm = next(k for k in weights if k.endswith("norm.weight"))
        weights[norm] = mx.concatenate([weights[norm], weights[norm]])
        mx.save_safetensors(str(file), weights)
    expected = _logits(load_model(tiny_model_path, "quantized").model)
    loaded = load_model(tiny_model_path, "quantized", read=ReadAhead(other))
    assert mx.allclose(_logits(loaded.model), expected).item()


def test_nothing_is_read_ahead_where_nothing_would_use_it(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    # Cast or dequantized for this device: the kept conversion is read instead.
    assert read_ahead(tiny_model_path, "float32") is None
    # mlx-lm rewrites the arrays of other tools' quantized checkpoints as it loads them.
    model = _copy(tiny_model_path, tmp_path / "awq")
    config = json.loads((model / "config.json").read_text())
    config.pop("quantization", None)
    config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128}
    (model / "config.json").write_text(json.dumps(config))
    assert read_ahead(model, "quantized") is None
    assert read_ahead(tmp_path / "missing", "quantized") is None
