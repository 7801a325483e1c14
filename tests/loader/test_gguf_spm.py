"""SentencePiece (``llama``) vocabularies: the tokenizer built from a GGUF's tokens, scores and
token types encodes as SentencePiece itself and llama.cpp do, and decodes back."""

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader.gguf_convert import convert_gguf
from pensieve_loader.gguf_tokenizer import build_spm_tokenizer
from tests.gguf_archs import (
    hf_checkpoint,
    hf_config,
    llama_cpp_spm,
    spm_vocab,
    train_spm,
    write_like_llama_cpp,
)

_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces",
    "trailing space ",
    "a  b   c    d",
    "new\nline and\r\nCRLF",
    "tab\there",
    "Café, naïve façade",
    "日本語 🙂 emoji",
    "Numbers 12345 and 2026",
    "sea shells",
    "x",
]


@pytest.fixture(name="sp", scope="module")
def _sp() -> Any:
    pytest.importorskip("sentencepiece")
    return train_spm()


def _tokenizer(vocab: dict[str, Any], *, add_bos: bool = False) -> Tokenizer:
    return build_spm_tokenizer(
        tokens=vocab["tokens"],
        scores=vocab["scores"],
        token_types=vocab["token_type"],
        bos_id=vocab["bos_token_id"],
        add_bos=add_bos,
        unk_id=vocab["unknown_token_id"],
        add_space_prefix=vocab["add_space_prefix"],
    )


def _llama_cpp(vocab: dict[str, Any], text: str) -> list[int]:
    return llama_cpp_spm(text, vocab["tokens"], vocab["scores"], prefix=vocab["add_space_prefix"])


@pytest.mark.parametrize("text", _TEXTS)
def test_encodes_as_sentencepiece_and_llama_cpp(sp: Any, text: str) -> None:
    vocab = spm_vocab(sp)
    ids = _tokenizer(vocab).encode(text, add_special_tokens=False).ids
    assert ids == sp.encode(text)
    assert ids == _llama_cpp(vocab, text)


@pytest.mark.parametrize("text", _TEXTS)
def test_decodes_back(sp: Any, text: str) -> None:
    tokenizer = _tokenizer(spm_vocab(sp))
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False).ids) == text


def test_unknown_characters_fall_back_to_bytes(sp: Any) -> None:
    tokenizer = _tokenizer(spm_vocab(sp))
    tokens = tokenizer.encode("🙂", add_special_tokens=False).tokens
    assert tokens[-4:] == ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"]
    assert tokenizer.decode(tokenizer.encode("🙂", add_special_tokens=False).ids) == "🙂"


def test_spaces_are_sentencepiece_spaces(sp: Any) -> None:
    tokenizer = _tokenizer(spm_vocab(sp))
    tokens = tokenizer.encode("the sea", add_special_tokens=False).tokens
    assert tokens[0].startswith("▁")
    assert "".join(tokens) == "▁the▁sea"


def test_special_tokens_split_the_text_and_prefix_what_follows(sp: Any) -> None:
    vocab = spm_vocab(sp)
    tokenizer = _tokenizer(vocab)
    start, end = vocab["tokens"].index("<start_of_turn>"), vocab["tokens"].index("<end_of_turn>")
    ids = tokenizer.encode("<start_of_turn>user\nHi there<end_of_turn>", add_special_tokens=False)
    # llama.cpp prefixes a space to the text after a special token, as at the start.
    assert ids.ids == [start, *_llama_cpp(vocab, "user\nHi there"), end]


def test_bos_is_added_once(sp: Any) -> None:
    vocab = spm_vocab(sp)
    ids = _tokenizer(vocab, add_bos=True).encode("Hello world").ids
    assert ids == [vocab["bos_token_id"], *sp.encode("Hello world")]
    assert _tokenizer(vocab, add_bos=True).encode("").ids == [vocab["bos_token_id"]]


@pytest.mark.parametrize("text", _TEXTS)
def test_without_a_space_prefix_as_gemma(sp: Any, text: str) -> None:
    vocab = spm_vocab(sp, add_space_prefix=False)
    tokenizer = _tokenizer(vocab)
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert ids == _llama_cpp(vocab, text)
    assert tokenizer.decode(ids) == text


def test_characters_that_are_only_bytes_still_merge(sp: Any) -> None:
    """Gemma has `\\t\\t` as a piece though `\\t` alone is only the byte token <0x09>."""
    vocab = spm_vocab(sp, add_space_prefix=False)
    vocab["tokens"] = [*vocab["tokens"], "\t\t", "\n\n"]
    vocab["scores"] = [*vocab["scores"], 0.0, -0.5]
    vocab["token_type"] = [*vocab["token_type"], 1, 1]
    tokenizer = Tokenizer.from_str(_tokenizer(vocab).to_str())  # as saved in tokenizer.json
    for text in ("a\t\tb\tc", "x\n\n\ny", "\t\t\t"):
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert ids == _llama_cpp(vocab, text), text
        assert tokenizer.decode(ids) == text
    assert len(vocab["tokens"]) - 2 in tokenizer.encode("\t\t", add_special_tokens=False).ids


def _spm_gguf(tmp_path: Path, vocab: dict[str, Any]) -> Path:
    config = hf_config("llama", len(vocab["tokens"]))
    gguf = tmp_path / "spm.gguf"
    write_like_llama_cpp(gguf, "llama", config, hf_checkpoint(config), vocab)
    return gguf


def test_converted_directory_tokenizes_through_mlx_lm(tmp_path: Path, sp: Any) -> None:
    vocab = spm_vocab(sp)
    out = convert_gguf(_spm_gguf(tmp_path, vocab), tmp_path / "spm")
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["add_bos_token"] is True  # llama.cpp's default for SentencePiece
    assert (tok_config["bos_token"], tok_config["eos_token"]) == ("<s>", "</s>")
    pytest.importorskip("mlx.core")
    from mlx_lm.tokenizer_utils import SPMStreamingDetokenizer

    from pensieve_mlx.loading import load_model

    tokenizer = load_model(out, precision="float32").tokenizer
    text = "Hello world, café 🙂"
    ids = tokenizer.encode(text)
    assert ids == [vocab["bos_token_id"], *sp.encode(text)]
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert isinstance(tokenizer.detokenizer, SPMStreamingDetokenizer)
    detokenizer = tokenizer.detokenizer
    detokenizer.reset()
    for token in ids[1:]:
        detokenizer.add_token(token)
    detokenizer.finalize()
    assert detokenizer.text == text
    # The engine's grammars (tool calls, JSON) read the vocabulary through llguidance.
    llguidance = pytest.importorskip("llguidance.hf")
    assert llguidance.from_tokenizer(tokenizer._tokenizer).vocab_size == len(vocab["tokens"])


def test_a_vocabulary_without_scores_is_malformed(tmp_path: Path, sp: Any) -> None:
    vocab = spm_vocab(sp)
    del vocab["scores"]
    with pytest.raises(ModelFormatError, match="without a score per token"):
        convert_gguf(_spm_gguf(tmp_path, vocab), tmp_path / "out")


def test_other_tokenizer_models_are_refused_in_one_line(tmp_path: Path, sp: Any) -> None:
    vocab = spm_vocab(sp) | {"model": "t5"}
    with pytest.raises(UnsupportedModelError) as raised:
        convert_gguf(_spm_gguf(tmp_path, vocab), tmp_path / "out")
    assert "\n" not in str(raised.value)
    assert "tokenizer model 't5'; supported: 'gpt2' (byte-level BPE) and 'llama'" in str(
        raised.value
    )


def test_tekken_pre_tokenizer() -> None:
    """Mistral Nemo's byte-level BPE (`tokenizer.ggml.pre == "tekken"`) splits case changes,
    single digits and punctuation with its newline, as its tokenizer.json regex does."""
    from pensieve_loader.gguf_tokenizer import pre_tokenizer_for

    split = pre_tokenizer_for("tekken", "x.gguf").pre_tokenize_str("HelloWorld, don't 2026!\nÉcole")
    assert [piece for piece, _ in split] == [
        "Hello", "World", ",", "Ġdon", "'t", "Ġ", "2", "0", "2", "6", "!Ċ", "Ãīcole",
    ]  # fmt: skip


def test_gpt4o_pre_tokenizer() -> None:
    """Phi-4-mini's o200k split: tekken's, with contractions kept and digits in threes."""
    from pensieve_loader.gguf_tokenizer import pre_tokenizer_for

    split = pre_tokenizer_for("gpt-4o", "x.gguf").pre_tokenize_str("HelloWorld, don't 2026!\nÉcole")
    assert [piece for piece, _ in split] == [
        "Hello", "World", ",", "Ġdon't", "Ġ", "202", "6", "!Ċ", "Ãīcole",
    ]  # fmt: skip
