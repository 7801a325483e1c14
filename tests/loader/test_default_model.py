"""The embedded SmolLM2, converted: real answers, a faithful tokenizer, un-permuted Q/K."""

from pathlib import Path

import pytest

from pensieve_loader import DEFAULT_MODEL_NAME, ModelStore, ResolvedModel
from pensieve_loader.gguf_convert import unpermute_rows

mx = pytest.importorskip("mlx.core")
mlx_lm = pytest.importorskip("mlx_lm")


@pytest.fixture(name="default_model", scope="module")
def _default_model() -> ResolvedModel:
    return ModelStore().resolve(None)


@pytest.fixture(name="loaded", scope="module")
def _loaded(default_model: ResolvedModel) -> tuple[object, object]:
    from mlx.utils import tree_map
    from mlx_lm.utils import dequantize_model

    model, tokenizer = mlx_lm.load(str(default_model.path))
    model = dequantize_model(model)
    model.update(tree_map(lambda a: a.astype(mx.float32), model.parameters()))
    return model, tokenizer


def test_default_model_resolves(default_model: ResolvedModel) -> None:
    assert default_model.name == DEFAULT_MODEL_NAME
    assert default_model.summary.context_length == 8192
    assert default_model.summary.quantization == "4-bit +8-bit"
    assert 130e6 < default_model.summary.parameters < 140e6


def test_answers_capital_of_france(loaded: tuple[object, object]) -> None:
    model, tokenizer = loaded
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)  # type: ignore[attr-defined]
    text = mlx_lm.generate(model, tokenizer, prompt, max_tokens=20, verbose=False)
    assert "Paris" in text


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "12345 + 67890 = 80235",
        "def f(x):\n    return x ** 2  # square",
        "Grüße, 東京, Москва, 🙂",
    ],
)
def test_tokenizer_round_trip(loaded: tuple[object, object], text: str) -> None:
    _, tokenizer = loaded
    ids = tokenizer.encode(text)  # type: ignore[attr-defined]
    assert tokenizer.decode(ids) == text  # type: ignore[attr-defined]


def test_tokenizer_matches_smollm_digits(loaded: tuple[object, object]) -> None:
    _, tokenizer = loaded
    # The smollm pre-tokenizer splits digits one by one, like llama.cpp does.
    ids = tokenizer.encode("2024")  # type: ignore[attr-defined]
    assert len(ids) == 4


def test_chat_template_renders_im_start(loaded: tuple[object, object]) -> None:
    _, tokenizer = loaded
    rendered = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert (
        rendered
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_unpermuted_qk_equals_gguf_layout_with_traditional_rope(
    default_model: ResolvedModel, loaded: tuple[object, object]
) -> None:
    """Converted weights + standard RoPE give the same logits as llama.cpp's permuted rows +
    traditional (interleaved) RoPE, which is how the GGUF's own runtime computes them."""
    import copy

    from mlx.utils import tree_flatten, tree_unflatten

    model, _ = loaded
    gguf_model = copy.deepcopy(model)
    args = model.args  # type: ignore[attr-defined]

    def permute(w: object, n_head: int) -> object:
        rows = w.shape[0]  # type: ignore[attr-defined]
        return w.reshape(n_head, 2, rows // n_head // 2, -1).swapaxes(1, 2).reshape(rows, -1)  # type: ignore[attr-defined]

    updates = []
    for name, value in tree_flatten(gguf_model.parameters()):  # type: ignore[attr-defined]
        if name.endswith("q_proj.weight"):
            updates.append((name, permute(value, args.num_attention_heads)))
        elif name.endswith("k_proj.weight"):
            updates.append((name, permute(value, args.num_key_value_heads)))
    gguf_model.update(tree_unflatten(updates))  # type: ignore[attr-defined]
    tokens = mx.array([[1, 504, 3458, 282, 4649, 314, 253, 2365, 30, 2]])
    # The GGUF's row order with standard RoPE is wrong: the permutation matters.
    assert not mx.allclose(model(tokens), gguf_model(tokens), atol=1e-2).item()  # type: ignore[operator]
    for layer in gguf_model.layers:  # type: ignore[attr-defined]
        layer.self_attn.rope = mx_nn_rope(layer.self_attn.rope)
    ours = model(tokens)  # type: ignore[operator]
    theirs = gguf_model(tokens)  # type: ignore[operator]
    assert mx.allclose(ours, theirs, atol=1e-3).item()
    # unpermute_rows is the exact inverse of the permutation used above.
    w = mx.arange(64 * 3).reshape(64, 3)
    assert mx.array_equal(mx.array(unpermute_rows(permute(w, 4).__array__(), 4)), w).item()  # type: ignore[attr-defined]


def mx_nn_rope(rope: object) -> object:
    import mlx.nn as nn

    return nn.RoPE(rope.dims, traditional=True, base=rope.base)  # type: ignore[attr-defined]


def test_second_resolution_reuses_conversion(tmp_path: Path) -> None:
    store = ModelStore(models_dir=tmp_path)
    first = store.resolve(None)
    mtime = (first.path / "model.safetensors").stat().st_mtime_ns
    second = store.resolve(None)
    assert first.converted
    assert not second.converted
    assert (second.path / "model.safetensors").stat().st_mtime_ns == mtime
