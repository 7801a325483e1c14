"""Dequantized weights kept on disk: a later load reads them and computes the same logits."""

import os
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from pensieve_mlx.loading import Caches, load_model


def _logits(model: nn.Module) -> mx.array:
    out: mx.array = model(mx.array([[1, 2, 3, 4]]))
    mx.eval(out)
    return out


def test_a_dequantized_model_is_kept_and_read_back(tiny_model_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "weights"
    first = load_model(tiny_model_path, "float32", caches=Caches(weights=cache))
    kept = list(cache.glob("*.safetensors"))
    assert len(kept) == 1
    assert first.precision == "float32 (dequantized)"
    # Read back, not converted again: a kept file changed on purpose changes the logits.
    second = load_model(tiny_model_path, "float32", caches=Caches(weights=cache))
    assert mx.allclose(_logits(first.model), _logits(second.model)).item()
    weights = mx.load(str(kept[0]))
    assert isinstance(weights, dict)
    mx.save_safetensors(str(kept[0]), {k: v * 0 if "embed" in k else v for k, v in weights.items()})
    zeroed = load_model(tiny_model_path, "float32", caches=Caches(weights=cache))
    assert not mx.allclose(_logits(first.model), _logits(zeroed.model)).item()


def test_a_changed_model_gets_a_new_copy(tiny_model_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for f in tiny_model_path.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    cache = tmp_path / "weights"
    load_model(model, "float32", caches=Caches(weights=cache))
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    load_model(model, "float32", caches=Caches(weights=cache))
    assert len(list(cache.glob("*.safetensors"))) == 2
    # Quantized on purpose: nothing to keep.
    load_model(model, "quantized", caches=Caches(weights=cache))
    assert len(list(cache.glob("*.safetensors"))) == 2
