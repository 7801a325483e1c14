"""Read safetensors headers (names, dtypes, shapes) without loading any weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from pensieve_core import ModelFormatError


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """One tensor's header entry."""

    dtype: str
    shape: tuple[int, ...]
    file: str


def read_header(path: Path) -> dict[str, TensorEntry]:
    """Tensors described by one ``.safetensors`` file, checked against the file's size."""
    try:
        # safe_open validates the header against the file's size; get_slice reads no weights.
        with safe_open(path, framework="numpy") as f:
            slices = {name: f.get_slice(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
            return {
                name: TensorEntry(
                    str(s.get_dtype()), tuple(int(d) for d in s.get_shape()), path.name
                )
                for name, s in slices.items()
            }
    except (SafetensorError, OSError) as e:
        # safetensors' words for a data section shorter (or longer) than the header says.
        if "incomplete metadata" in str(e):
            why = "is truncated (or has trailing bytes): its size does not match its header"
        else:
            why = f"is not a readable safetensors file: {e}"
        raise ModelFormatError(f"{str(path)!r} {why}", path=str(path)) from e


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
