"""Each supported architecture: a tiny random model, written as llama.cpp's converter writes it,
converts into an MLX directory whose logits match the checkpoint run directly by mlx-lm."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import (
    MODEL_ARCH_NAMES,
    MODEL_TENSORS,
    TENSOR_NAMES,
    GGMLQuantizationType,
    get_tensor_name_map,
)

from pensieve_core import UnsupportedModelError
from pensieve_loader import ModelStore
from pensieve_loader.gguf_archs import ARCHITECTURES, MIXTRAL, Architecture
from pensieve_loader.gguf_convert import convert_gguf
from tests.gguf_archs import (
    GGUF_ARCH,
    HF_CONFIGS,
    hf_checkpoint,
    hf_config,
    spm_vocab,
    tiny_bpe_vocab,
    train_spm,
    write_like_llama_cpp,
)

mx = pytest.importorskip("mlx.core")

from mlx_lm.utils import _get_classes  # noqa: E402

from pensieve_mlx.loading import load_model  # noqa: E402

_SPM = {"llama", "mistral", "phi3", "gemma", "gemma2", "gemma3"}
_TOKENS = [[1, 5, 9, 77, 3, 200, 41, 8, 150, 12, 6, 99]]
"""Twelve tokens: longer than gemma3's sliding window of 4."""


@pytest.fixture(name="sp", scope="module")
def _sp() -> Any:
    pytest.importorskip("sentencepiece")
    return train_spm()


def _vocab(name: str, sp: Any) -> dict[str, Any]:
    if name in _SPM:
        return spm_vocab(sp, add_space_prefix=not name.startswith("gemma"))
    return tiny_bpe_vocab()


def reference_logits(config: dict[str, Any], weights: dict[str, np.ndarray]) -> np.ndarray:
    """The checkpoint run by mlx-lm's own model class, as if loaded from the Hugging Face repo."""
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    arrays = {k: mx.array(v) for k, v in weights.items()}
    if hasattr(model, "sanitize"):
        arrays = model.sanitize(arrays)
    model.load_weights(list(arrays.items()))
    return np.array(model(mx.array(_TOKENS)).astype(mx.float32))


def _convert(
    tmp_path: Path,
    name: str,
    sp: Any,
    matrix_type: GGMLQuantizationType,
    only: str = "",
    **overrides: Any,
) -> tuple[dict[str, Any], dict[str, np.ndarray], Path]:
    vocab = _vocab(name, sp)
    config = hf_config(name, len(vocab["tokens"]), **overrides)
    weights = hf_checkpoint(config, seed=len(name))
    gguf = tmp_path / f"{name}.gguf"
    held = write_like_llama_cpp(
        gguf, name, config, weights, vocab, matrix_type=matrix_type, only=only
    )
    return config, held, convert_gguf(gguf, tmp_path / name)


def _same_config(converted: dict[str, Any], config: dict[str, Any]) -> None:
    """The converted config.json states what the checkpoint's does (mlx-lm's class included)."""
    assert _get_classes(converted)[0] is _get_classes(config)[0]
    for key, want in config.items():
        if key in ("model_type", "rope_scaling", "tie_word_embeddings"):
            continue
        got = converted.get(key, "missing")
        assert got == (pytest.approx(want, rel=1e-6) if isinstance(want, float) else want), key


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_converted_logits_match_the_checkpoint(tmp_path: Path, sp: Any, name: str) -> None:
    config, held, out = _convert(tmp_path, name, sp, GGMLQuantizationType.F32)
    ModelStore(models_dir=tmp_path).resolve(str(out))  # the validator accepts it
    _same_config(json.loads((out / "config.json").read_text()), config)
    loaded = load_model(out, precision="float32")
    got = np.array(loaded.model(mx.array(_TOKENS)))
    want = reference_logits(config, held)
    # Weights are stored as float16: about 1e-3 of each logit.
    np.testing.assert_allclose(got, want, atol=1e-2 * np.abs(want).max(), rtol=0)
    assert np.argmax(got, -1).tolist() == np.argmax(want, -1).tolist()


@pytest.mark.parametrize(
    ("name", "matrix_type"),
    [("qwen3moe", "Q8_0"), ("qwen2moe", "Q4_0"), ("mixtral", "Q8_0"), ("gemma3", "Q4_0")],
)
def test_quantized_experts_and_matrices_stay_quantized(
    tmp_path: Path, sp: Any, name: str, matrix_type: str
) -> None:
    qtype = GGMLQuantizationType[matrix_type]
    config, held, out = _convert(tmp_path, name, sp, qtype)
    stored = load_model(out, precision="quantized")
    layer = stored.model.model.layers[0]
    moe = getattr(layer, "block_sparse_moe", None) or layer.mlp
    if name != "gemma3":
        assert moe.switch_mlp.gate_proj.bits == (8 if matrix_type == "Q8_0" else 4)
        assert not hasattr(moe.gate, "bits"), "the router stays dense"
    dense = load_model(out, precision="float32")
    got = np.array(dense.model(mx.array(_TOKENS)))
    want = reference_logits(config, held)
    # The GGUF's own grid is kept: only float16 rounding of the scales differs.
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max(), rtol=0)


def test_quantized_experts_alone_are_dequantized_on_the_cpu(tmp_path: Path, sp: Any) -> None:
    config, held, out = _convert(tmp_path, "qwen3moe", sp, GGMLQuantizationType.Q8_0, "_exps")
    quant = json.loads((out / "config.json").read_text())["quantization"]
    assert quant["bits"] == 8
    assert quant["model.layers.0.self_attn.q_proj"] is False
    dense = load_model(out, precision="float32")
    assert dense.precision == "float32 (dequantized)"
    assert dense.model.model.layers[0].mlp.switch_mlp.up_proj.weight.dtype == mx.float32
    got = np.array(dense.model(mx.array(_TOKENS)))
    want = reference_logits(config, held)
    np.testing.assert_allclose(got, want, atol=1e-2 * np.abs(want).max(), rtol=0)


@pytest.mark.parametrize(
    ("matrix_type", "error"), [("Q4_K", 0.005), ("Q6_K", 0.03), ("IQ4_XS", 0.1)]
)
def test_k_quant_experts(tmp_path: Path, sp: Any, matrix_type: str, error: float) -> None:
    """Stacked experts in the types real MoE GGUFs use (256-weight super-blocks)."""
    qtype = GGMLQuantizationType[matrix_type]
    config, held, out = _convert(
        tmp_path, "qwen3moe", sp, qtype, "_exps", hidden_size=256, moe_intermediate_size=256
    )
    stored = load_model(out, precision="quantized")
    switch = stored.model.model.layers[1].mlp.switch_mlp
    assert switch.down_proj.bits == {"Q4_K": 4, "Q6_K": 6, "IQ4_XS": 4}[matrix_type]
    assert switch.down_proj.weight.shape[:2] == (4, 256)
    dense = load_model(out, precision="float32").model
    # Q4_K keeps its grid; Q6_K and IQ4_XS are re-quantized min-max per 32 weights.
    for part in ("gate_proj", "up_proj", "down_proj"):
        got = np.array(getattr(dense.model.layers[1].mlp.switch_mlp, part).weight)
        want = np.stack([held[f"model.layers.1.mlp.experts.{e}.{part}.weight"] for e in range(4)])
        assert np.sqrt(np.mean((got - want) ** 2) / np.mean(want**2)) < error, part
    # Re-quantization may tip a token's choice of experts: the logits agree, not to the digit.
    got, want = np.array(dense(mx.array(_TOKENS))), reference_logits(config, held)
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 1 - error / 5


@pytest.mark.parametrize("arch", [*ARCHITECTURES.values(), MIXTRAL], ids=lambda a: a.model_type)
def test_tensor_names_invert_the_gguf_name_map(arch: Architecture) -> None:
    """Every name the converter gives a GGUF tensor is one llama.cpp's map sends to it."""
    gguf_arch = next(k for k, v in MODEL_ARCH_NAMES.items() if v == arch.gguf)
    names = get_tensor_name_map(gguf_arch, 1)
    # mlx-lm's sanitize stacks experts into `switch_mlp`; llama.cpp's map knows them stacked as
    # `experts` (Mixtral's w1/w3/w2 in Hugging Face terms).
    stacked = {"gate_proj": "w1", "up_proj": "w3", "down_proj": "w2"} if arch is MIXTRAL else {}
    for tensor in arch.layer_tensors:
        assert tensor in MODEL_TENSORS[gguf_arch], tensor  # llama.cpp has it in this architecture
        gguf_name = TENSOR_NAMES[tensor].format(bid=0) + ".weight"
        hf = arch.hf_name(gguf_name)
        assert hf is not None
        for mlx, hf_part in stacked.items():
            hf = hf.replace(f"switch_mlp.{mlx}", f"experts.{hf_part}")
        hf = hf.replace("switch_mlp.", "experts.")
        assert names.get_name(hf, try_suffixes=(".weight",)) == gguf_name, tensor
    tied = arch.head == "tied"  # llama.cpp has no output matrix for these
    for gguf_name in (
        "token_embd.weight",
        "output_norm.weight",
        *(() if tied else ["output.weight"]),
    ):
        hf = arch.hf_name(gguf_name)
        assert hf is not None
        assert names.get_name(hf, try_suffixes=(".weight",)) == gguf_name


def test_unsupported_architecture_is_one_line(tmp_path: Path) -> None:
    vocab = tiny_bpe_vocab()
    config = hf_config("llama", len(vocab["tokens"]))
    gguf = tmp_path / "other.gguf"
    write_like_llama_cpp(gguf, "llama", config, hf_checkpoint(config), vocab, arch="bloom")
    with pytest.raises(UnsupportedModelError) as raised:
        convert_gguf(gguf, tmp_path / "out")
    message = str(raised.value)
    assert "\n" not in message
    assert "architecture 'bloom'" in message
    assert (
        "supported: llama, qwen2, qwen3, qwen2moe, qwen3moe, phi3, gemma, gemma2, gemma3" in message
    )
    assert not (tmp_path / "out").exists()


def test_gemma2_with_an_untied_output_is_refused(tmp_path: Path, sp: Any) -> None:
    vocab = spm_vocab(sp, add_space_prefix=False)
    config = hf_config("gemma2", len(vocab["tokens"])) | {"tie_word_embeddings": False}
    weights = hf_checkpoint(config) | {"lm_head.weight": np.zeros((len(vocab["tokens"]), 64))}
    gguf = tmp_path / "g2.gguf"
    write_like_llama_cpp(gguf, "gemma2", config, weights, vocab)
    with pytest.raises(UnsupportedModelError, match="always ties them"):
        convert_gguf(gguf, tmp_path / "out")


def test_gguf_arch_table_covers_every_test_model() -> None:
    assert set(GGUF_ARCH.values()) == set(ARCHITECTURES)
