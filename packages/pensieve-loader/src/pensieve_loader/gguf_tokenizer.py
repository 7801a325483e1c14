"""Build a Hugging Face ``tokenizers`` tokenizer from a GGUF's BPE vocabulary and merges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

from pensieve_core import UnsupportedModelError

# The regexes llama.cpp uses for each `tokenizer.ggml.pre` (llama-vocab.cpp).
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# token_type values from llama.cpp: 3 = control, 4 = user-defined (both are added tokens).
_CONTROL, _USER_DEFINED = 3, 4


def _split(pattern: str) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)


def _byte_level(use_regex: bool) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)


def pre_tokenizer_for(pre: str, path: str) -> pre_tokenizers.PreTokenizer:
    """The pre-tokenizer matching llama.cpp's behaviour for ``tokenizer.ggml.pre``."""
    if pre in ("default", "gpt2", "gpt-2", "mpt", "olmo"):
        return _byte_level(use_regex=True)
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        digits = pre_tokenizers.Digits(individual_digits=True)
        return pre_tokenizers.Sequence([digits, _byte_level(use_regex=True)])
    if pre in ("llama3", "llama-bpe", "llama-v3", "falcon3", "pixtral"):
        return pre_tokenizers.Sequence([_split(_LLAMA3), _byte_level(use_regex=False)])
    if pre in ("qwen2", "deepseek-r1-qwen"):
        return pre_tokenizers.Sequence([_split(_QWEN2), _byte_level(use_regex=False)])
    raise UnsupportedModelError(
        f"GGUF tokenizer pre-tokenizer {pre!r} is not supported (known: smollm, gpt2, llama-bpe, qwen2)",
        path=path,
    )


def build_tokenizer(
    *,
    tokens: Sequence[str],
    merges: Sequence[str],
    token_types: Sequence[int],
    pre: str,
    bos_id: int | None,
    add_bos: bool,
    path: str,
) -> Tokenizer:
    """A byte-level BPE tokenizer equivalent to the GGUF's ``gpt2``-model vocabulary."""
    vocab = {token: i for i, token in enumerate(tokens)}
    pairs: list[tuple[str, str]] = []
    for merge in merges:
        left, _, right = merge.partition(" ")
        pairs.append((left, right))
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False)
    )
    tokenizer.pre_tokenizer = pre_tokenizer_for(pre, path)
    tokenizer.decoder = decoders.ByteLevel()
    special = [
        AddedToken(tokens[i], special=True, normalized=False)
        for i, kind in enumerate(token_types)
        if kind in (_CONTROL, _USER_DEFINED)
    ]
    tokenizer.add_special_tokens(special)
    if add_bos and bos_id is not None:
        bos = tokens[bos_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def tokenizer_config(
    *,
    tokens: Sequence[str],
    chat_template: str | None,
    bos_id: int | None,
    eos_id: int | None,
    unk_id: int | None,
    pad_id: int | None,
    add_bos: bool,
    context_length: int,
) -> dict[str, Any]:
    """The ``tokenizer_config.json`` that transformers and mlx-lm read."""

    def name(i: int | None) -> str | None:
        return tokens[i] if i is not None and 0 <= i < len(tokens) else None

    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name(bos_id),
        "eos_token": name(eos_id),
        "unk_token": name(unk_id),
        "pad_token": name(pad_id),
        "add_bos_token": add_bos,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": context_length,
    }
    if chat_template:
        config["chat_template"] = chat_template
    return {k: v for k, v in config.items() if v is not None}
