"""Build a Hugging Face ``tokenizers`` tokenizer from a GGUF's vocabulary.

Two vocabularies: byte-level BPE (``tokenizer.ggml.model == "gpt2"``: tokens and merges, split by
the regex ``tokenizer.ggml.pre`` names) and SentencePiece (``"llama"``: tokens, scores and token
types, with ``▁`` for spaces and ``<0xNN>`` byte-fallback tokens). Both follow llama.cpp's
tokenizers (``llama-vocab.cpp``), which define what a GGUF's vocabulary means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

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

_TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_GPT4O = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    + _CONTRACTIONS
    + r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    + _CONTRACTIONS
    + r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
"""o200k (Phi-4-mini), as its tokenizer.json states it."""

# token_type values from llama.cpp: 3 = control, 4 = user-defined (both are added tokens).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_SPACE = "\u2581"
"""``▁``: SentencePiece's space."""


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
    if pre in ("tekken", "gpt-4o"):
        pattern = _TEKKEN if pre == "tekken" else _GPT4O
        return pre_tokenizers.Sequence([_split(pattern), _byte_level(use_regex=False)])
    raise UnsupportedModelError(
        f"GGUF tokenizer pre-tokenizer {pre!r} is not supported "
        "(known: smollm, gpt2, llama-bpe, qwen2, tekken, gpt-4o)",
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
        tokenizer.post_processor = _bos_processor(tokens, bos_id)
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def _bos_processor(tokens: Sequence[str], bos_id: int) -> processors.PostProcessor:
    bos = tokens[bos_id]
    return processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
    )


def spm_merges(vocab: dict[str, int], mergeable: dict[str, float]) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's: every pair of pieces that joins into a piece.

    SentencePiece (and llama.cpp's ``llm_tokenizer_spm``) repeatedly joins the adjacent pair whose
    union is the highest-scoring normal piece; a BPE model does the same when its merges are ranked
    by that score (ties by id, as transformers' ``SentencePieceExtractor`` ranks them).
    """
    ranked: list[tuple[float, int, str, str]] = []
    for piece, score in mergeable.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-score, vocab[piece], left, right))
    ranked.sort()
    return [(left, right) for _, _, left, right in ranked]


def build_spm_tokenizer(
    *,
    tokens: Sequence[str],
    scores: Sequence[float],
    token_types: Sequence[int],
    bos_id: int | None,
    add_bos: bool,
    unk_id: int | None,
    add_space_prefix: bool,
) -> Tokenizer:
    """A byte-fallback BPE tokenizer equivalent to the GGUF's ``llama`` (SentencePiece) vocabulary.

    As llama.cpp tokenizes it: a space is prefixed to the text and to the text after each special
    token (unless ``add_space_prefix`` is off, as for Gemma), spaces become ``▁``, pieces join by
    score, and what no piece covers is spelled as ``<0xNN>`` byte tokens. No other normalization
    is applied (llama.cpp applies none).
    """
    types = list(token_types) or [_NORMAL] * len(tokens)
    names = list(tokens)
    mergeable = {t: float(scores[i]) for i, t in enumerate(tokens) if types[i] == _NORMAL}
    # A character that is only a byte token (Gemma's "\t" is only <0x09>) can still start merges
    # ("\t\t" is a piece), which BPE spells by token: that byte token is named as the character.
    # The same id either way (an ASCII byte is that character and nothing else), so encoding,
    # decoding and byte fallback are unchanged.
    present = set(names)
    bare = {c for piece in mergeable if len(piece) > 1 for c in piece if c not in present}
    for char in sorted(c for c in bare if ord(c) < 128 and f"<0x{ord(c):02X}>" in present):
        names[names.index(f"<0x{ord(char):02X}>")] = char
    vocab = {token: i for i, token in enumerate(names)}
    unk = tokens[unk_id] if unk_id is not None and 0 <= unk_id < len(tokens) else None
    tokenizer = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=spm_merges(vocab, mergeable),
            unk_token=unk,
            fuse_unk=True,
            byte_fallback=True,
        )
    )
    steps = [normalizers.Prepend(_SPACE)] if add_space_prefix else []
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Replace(" ", _SPACE)])
    # mlx-lm recognizes these two decoders and streams them with its SentencePiece detokenizer.
    decoding = [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        decoding.append(decoders.Strip(content=" ", left=1, right=0))
    tokenizer.decoder = decoders.Sequence(decoding)
    tokenizer.add_special_tokens(
        [
            AddedToken(tokens[i], special=True, normalized=False)
            for i, kind in enumerate(types)
            if kind in (_UNKNOWN, _CONTROL, _USER_DEFINED)
        ]
    )
    if add_bos and bos_id is not None:
        tokenizer.post_processor = _bos_processor(tokens, bos_id)
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
