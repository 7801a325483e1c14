"""A GGUF's leading string metadata, read by hand, and what the converter accepts.

``gguf.GGUFReader`` parses every field up front, seconds for a 150k-token vocabulary; listing the
GGUFs other applications keep only needs ``general.architecture`` and ``tokenizer.ggml.model``,
which writers put before the vocabulary. No numpy, so the listing stays light.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Literal

SUPPORTED_ARCHITECTURES = (
    "llama",
    "qwen2",
    "qwen3",
    "qwen2moe",
    "qwen3moe",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3",
)
"""``general.architecture`` values the converter takes (``gguf_archs`` has one entry for each)."""
SUPPORTED_TOKENIZERS = ("gpt2", "llama")
"""``tokenizer.ggml.model`` values converted: byte-level BPE and SentencePiece."""

FloatType = Literal["float16", "float32"]
"""Float types an import may ask for instead of keeping quantized tensors quantized."""

_MAGIC = b"GGUF"
_STRING, _ARRAY = 8, 9
# Byte sizes of GGUF's fixed-size value types (uint8 ... float64, bool).
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_MAX_KEYS = 256


def read_header_strings(path: Path, keys: frozenset[str]) -> dict[str, str]:
    """The string values of ``keys`` in ``path``'s metadata (absent keys are left out).

    Stops once every key is found; an unreadable or non-GGUF file gives ``{}``.
    """
    found: dict[str, str] = {}
    try:
        with path.open("rb") as f:
            if f.read(4) != _MAGIC:
                return {}
            (version,) = struct.unpack("<I", f.read(4))
            if version not in (2, 3):
                return {}
            _, kv_count = struct.unpack("<QQ", f.read(16))
            for _ in range(min(kv_count, _MAX_KEYS)):
                key = _string(f)
                (kind,) = struct.unpack("<I", f.read(4))
                if kind == _STRING and key in keys:
                    found[key] = _string(f)
                    if len(found) == len(keys):
                        break
                elif not _skip(f, kind):
                    break
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return found
    return found


def conversion_problem(header: dict[str, str]) -> str:
    """Why the converter would refuse a GGUF with this header ("" when it would not)."""
    arch = header.get("general.architecture")
    if arch is None:
        return "not a readable GGUF file"
    if arch not in SUPPORTED_ARCHITECTURES:
        return f"architecture {arch!r} is not supported ({', '.join(SUPPORTED_ARCHITECTURES)})"
    tokenizer = header.get("tokenizer.ggml.model")
    if tokenizer is not None and tokenizer not in SUPPORTED_TOKENIZERS:
        return (
            f"tokenizer model {tokenizer!r} is not supported "
            "(byte-level BPE 'gpt2' and SentencePiece 'llama')"
        )
    return ""


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    if n > 1 << 24:
        raise ValueError("implausible string length")
    return f.read(n).decode("utf-8")


def _skip(f: BinaryIO, kind: int) -> bool:
    """Move past one value of ``kind``; false for kinds it cannot skip."""
    if kind in _SIZES:
        f.seek(_SIZES[kind], 1)
        return True
    if kind == _STRING:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, 1)
        return True
    if kind == _ARRAY:
        item, count = struct.unpack("<IQ", f.read(12))
        if item in _SIZES:
            f.seek(_SIZES[item] * count, 1)
            return True
        if item == _STRING:
            for _ in range(count):
                (n,) = struct.unpack("<Q", f.read(8))
                f.seek(n, 1)
            return True
    return False
