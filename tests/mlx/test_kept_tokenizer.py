"""The tokenizer kept across starts: read back, it tokenizes, templates and streams as built."""

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from pensieve_mlx import MLXEngineConfig, kept_tokenizer
from pensieve_mlx.kept_tokenizer import kept_path, load_kept_tokenizer
from tests.mlx.conftest import running_engine

TEXTS = (
    "héllo wörld 日本語 🙂 def f(x):\n    return x  # trailing  ",
    '<|im_start|>user\n<tool_call>\n{"name": "Read"}\n</tool_call><|im_end|>',
)
MESSAGES = [
    {"role": "system", "content": "You edit files."},
    {"role": "user", "content": TEXTS[0]},
    {"role": "assistant", "content": "Done."},
    {"role": "user", "content": "again"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "Read",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


def _streamed(tokenizer: Any, ids: list[int]) -> list[str]:
    detokenizer = tokenizer.detokenizer
    detokenizer.reset()
    pieces = []
    for token in ids:
        detokenizer.add_token(token)
        pieces.append(detokenizer.last_segment)
    detokenizer.finalize()
    pieces.append(detokenizer.last_segment)
    return pieces


def _behaviour(tokenizer: Any) -> dict[str, Any]:
    """What the engine asks of a tokenizer, on text that exercises bytes and special tokens."""
    prompt = tokenizer.apply_chat_template(
        MESSAGES, tools=TOOLS, add_generation_prompt=True, tokenize=False
    )
    ids = [tokenizer.encode(text) for text in (*TEXTS, prompt)]
    return {
        "prompt": prompt,
        "ids": ids,
        "decoded": [tokenizer.decode(i) for i in ids],
        "streamed": [_streamed(tokenizer, i) for i in ids],
        "eos": tokenizer.eos_token_ids,
        "detokenizer": type(tokenizer.detokenizer).__name__,
        "markers": (tokenizer.tool_call_start, tokenizer.tool_call_end, tokenizer.think_start),
        "vocab": tokenizer.vocab_size,
    }


def test_a_kept_tokenizer_is_read_back_and_behaves_as_built(
    tiny_qwen_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = load_kept_tokenizer(tiny_qwen_path, [151645], tmp_path)
    assert len(list(tmp_path.glob("*.pickle"))) == 1
    assert os.stat(kept_path(tmp_path, tiny_qwen_path, [151645])).st_mode & 0o077 == 0

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built again instead of read back")

    monkeypatch.setattr(kept_tokenizer, "load_tokenizer", no_build)
    kept = load_kept_tokenizer(tiny_qwen_path, [151645], tmp_path)
    assert kept is not built
    assert _behaviour(kept) == _behaviour(built)
    assert _behaviour(kept)["detokenizer"] == "BPEStreamingDetokenizer"
    # Kept without what only its construction read; the tokenizer it was kept from is unchanged.
    assert kept._tokenizer._vocab is None
    assert kept._tokenizer._merges is None
    assert len(built._tokenizer._vocab) == 151_936


def test_a_changed_tokenizer_file_or_eos_is_built_again(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for f in tiny_model_path.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    cache = tmp_path / "tokenizers"
    first = kept_path(cache, model, None)
    load_kept_tokenizer(model, None, cache)
    assert first.is_file()
    # Weights are not what a tokenizer is built from: a new weight file keeps it.
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert kept_path(cache, model, None) == first
    config = model / "tokenizer_config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    assert kept_path(cache, model, None) != first
    assert kept_path(cache, model, [2]) != kept_path(cache, model, None)
    load_kept_tokenizer(model, None, cache)
    assert len(list(cache.glob("*.pickle"))) == 2


def test_an_unreadable_kept_file_is_built_again(tiny_model_path: Path, tmp_path: Path) -> None:
    kept = kept_path(tmp_path, tiny_model_path, None)
    kept.write_bytes(b"not a pickle")
    tokenizer = load_kept_tokenizer(tiny_model_path, None, tmp_path)
    assert tokenizer.encode("hello") == load_kept_tokenizer(tiny_model_path, None, None).encode(
        "hello"
    )
    assert pickle.loads(kept.read_bytes()).encode("hello") == tokenizer.encode("hello")


def test_a_kept_file_others_may_write_is_not_unpickled(
    tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = kept_path(tmp_path, tiny_model_path, None)
    load_kept_tokenizer(tiny_model_path, None, tmp_path)
    kept.chmod(0o666)
    unpickled: list[object] = []
    real_load = pickle.load

    def spy(file: Any) -> Any:
        unpickled.append(file)
        return real_load(file)

    monkeypatch.setattr(kept_tokenizer.pickle, "load", spy)
    tokenizer = load_kept_tokenizer(tiny_model_path, None, tmp_path)
    assert not unpickled
    assert tokenizer.encode("hello")
    assert kept.stat().st_mode & 0o777 == 0o600  # built again and kept as this user's
    load_kept_tokenizer(tiny_model_path, None, tmp_path)
    assert len(unpickled) == 1


def test_a_cache_that_cannot_be_written_still_loads(tiny_model_path: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory would be")
    tokenizer = load_kept_tokenizer(tiny_model_path, None, blocked / "tokenizers")
    assert tokenizer.encode("hello")
    assert not (blocked / "tokenizers").exists()


def test_the_engine_keeps_its_tokenizer_where_configured(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    config = MLXEngineConfig(tokenizer_cache_dir=str(tmp_path / "tokenizers"))
    for _ in running_engine(tiny_model_path, config):
        assert len(list((tmp_path / "tokenizers").glob("*.pickle"))) == 1
    for _ in running_engine(tiny_model_path):  # no directory: nothing kept anywhere
        pass
    assert len(list(tmp_path.rglob("*.pickle"))) == 1
