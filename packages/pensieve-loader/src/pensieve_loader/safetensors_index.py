"""Read safetensors headers (names, dtypes, shapes) without loading any weights."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from pensieve_core import ModelFormatError


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """One tensor's header entry."""

    dtype: str
    shape: tuple[int, ...]
    file: str


MAX_HEADER_BYTES = 100 * 2**20
"""safetensors' own limit on the JSON header."""


def read_header(path: Path) -> dict[str, TensorEntry]:
    """Tensors described by one ``.safetensors`` file, checked against the file's size."""
    unreadable = f"{str(path)!r} is not a readable safetensors file"
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            # Random bytes give a random length: check it before reading that much.
            if length > min(size - 8, MAX_HEADER_BYTES):
                raise ModelFormatError(
                    f"{unreadable}: its header length ({length} bytes) does not fit the file",
                    path=str(path),
                )
            header = json.loads(f.read(length))
        entries = {
            name: TensorEntry(str(e["dtype"]), tuple(int(d) for d in e["shape"]), path.name)
            for name, e in header.items()
            if name != "__metadata__"
        }
        end = max(
            (int(e["data_offsets"][1]) for k, e in header.items() if k != "__metadata__"),
            default=0,
        )
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{unreadable}: {e}", path=str(path)) from e
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise ModelFormatError(f"{unreadable}: malformed header ({e!r})", path=str(path)) from e
    if size < 8 + length + end:
        raise ModelFormatError(f"{str(path)!r} is truncated", path=str(path))
    return entries


def read_index(model_dir: Path) -> dict[str, TensorEntry]:
    """Every tensor of a model directory (single file or sharded)."""
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ModelFormatError(
            f"{str(model_dir)!r} has no *.safetensors weights", path=str(model_dir)
        )
    index_file = model_dir / "model.safetensors.index.json"
    if index_file.is_file():
        try:
            wanted = set(json.loads(index_file.read_text())["weight_map"].values())
        except (json.JSONDecodeError, KeyError) as e:
            raise ModelFormatError(
                f"{str(index_file)!r} is malformed: {e}", path=str(index_file)
            ) from e
        missing = sorted(w for w in wanted if not (model_dir / w).is_file())
        if missing:
            raise ModelFormatError(
                f"weight shard {missing[0]!r} is missing", path=str(model_dir / missing[0])
            )
    tensors: dict[str, TensorEntry] = {}
    for file in files:
        tensors.update(read_header(file))
    return tensors
