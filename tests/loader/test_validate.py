"""Validation of MLX model directories: every fault named with its file."""

import json
import shutil
from pathlib import Path

import pytest
from safetensors.numpy import load_file, save_file

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader import validate_model_dir


def test_valid_directory_summary(model_dir: Path) -> None:
    summary = validate_model_dir(model_dir)
    assert summary.architecture == "llama"
    assert summary.context_length == 256
    assert summary.quantization == "4-bit +8-bit"
    assert summary.parameters > 49152 * 64
    assert not summary.supports_tools


def test_missing_config(model_dir: Path) -> None:
    (model_dir / "config.json").unlink()
    with pytest.raises(ModelFormatError, match=r"config\.json' is missing"):
        validate_model_dir(model_dir)


def test_unknown_model_type(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    config["model_type"] = "no_such_arch"
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="model_type 'no_such_arch'"):
        validate_model_dir(model_dir)


def test_missing_tensor(model_dir: Path) -> None:
    weights = load_file(str(model_dir / "model.safetensors"))
    del weights["model.layers.1.mlp.up_proj.scales"]
    save_file(weights, str(model_dir / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"layer 1 lacks tensor 'mlp\.up_proj\.scales'"):
        validate_model_dir(model_dir)


def test_truncated_weights(model_dir: Path) -> None:
    path = model_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ModelFormatError, match="truncated"):
        validate_model_dir(model_dir)


def test_layer_count_mismatch(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="says 3 layers"):
        validate_model_dir(model_dir)


def test_missing_tokenizer(model_dir: Path) -> None:
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelFormatError, match="no tokenizer"):
        validate_model_dir(model_dir)


def test_no_weights(model_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(model_dir, empty, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ModelFormatError, match=r"no \*\.safetensors"):
        validate_model_dir(empty)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_as_weights_are_a_format_error(model_dir: Path, seed: int) -> None:
    import random

    weights = model_dir / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(random.Random(seed).randbytes(size))
    with pytest.raises(ModelFormatError, match="not a readable safetensors file"):
        validate_model_dir(model_dir)


@pytest.mark.parametrize("value", [10**11, 1e11, -5, 0, "8192", True])
def test_absurd_context_lengths_are_refused(model_dir: Path, value: object) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    config["max_position_embeddings"] = value
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="max_position_embeddings"):
        validate_model_dir(model_dir)
