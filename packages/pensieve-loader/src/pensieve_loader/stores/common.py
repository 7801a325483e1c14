"""What every store shares: the found GGUF, names, multi-part and projector files, choosing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from pensieve_core import ModelFormatError, ModelNotFoundError

_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StoreGGUF:
    """A GGUF another application keeps, as ``pensieve models import SPEC`` finds it."""

    spec: str
    """What ``pensieve models import`` takes, e.g. ``ollama:qwen2.5-coder:0.5b``."""
    path: Path
    """The file (for Ollama, its blob)."""
    size: int
    name: str
    """The models-directory name it is imported under unless another is given."""
    sha256: str | None = None
    """The digest the store records for it (checked before converting), if any."""
    problem: str = ""
    """Why it cannot be imported as it stands ("" when it can)."""

    def usable(self) -> StoreGGUF:
        """``self``, or its problem raised as one line naming the spec."""
        if self.problem:
            raise ModelFormatError(f"{self.spec}: {self.problem}", path=str(self.path))
        return self


def safe_name(text: str) -> str:
    """``text`` as a models-directory name: lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "model"


def gguf_name(path: Path) -> str:
    """A models-directory name for a GGUF file: its stem without the quant suffix."""
    return safe_name(re.sub(r"[.-](q\d\w*|f16|f32|bf16)$", "", path.stem, flags=re.IGNORECASE))


def some(items: list[str], limit: int = 8) -> str:
    """``items`` joined for a one-line message, the first ``limit`` of them ("none" if empty)."""
    shown = ", ".join(items[:limit]) or "none"
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def is_projector(file_name: str) -> bool:
    """A multimodal projector (``mmproj-*.gguf``): vision weights, not a language model."""
    return "mmproj" in file_name.lower()


def split_part(file_name: str) -> tuple[int, int] | None:
    """``(part, parts)`` of a split GGUF's file name (``-00001-of-00003.gguf``), else ``None``."""
    if (m := _PART.search(file_name)) is None:
        return None
    return int(m.group(1)), int(m.group(2))


def split_problem(parts: int) -> str:
    """The one line refusing a GGUF split into ``parts`` files."""
    return (
        f"a GGUF split into {parts} files, which Pensieve does not convert; merge them with "
        "llama.cpp's `llama-gguf-split --merge FIRST-PART OUT.gguf` and import OUT.gguf"
    )


def choose(found: list[StoreGGUF], spec: str) -> StoreGGUF:
    """The one GGUF in ``found`` (named ``spec`` now), or a one-line error naming the choices."""
    if not found:
        raise ModelNotFoundError(f"{spec} holds no GGUF model file", model=spec)
    if len(found) > 1:
        choices = some([f.spec for f in found], limit=12)
        raise ModelNotFoundError(
            f"{spec} holds {len(found)} GGUF files; name one: {choices}", model=spec
        )
    return replace(found[0], spec=spec).usable()


def by_repo(base_spec: str, files: list[StoreGGUF]) -> list[StoreGGUF]:
    """A repo's files as listed: the repo's own spec when it holds only one."""
    return [replace(files[0], spec=base_spec)] if len(files) == 1 else files


def verify_sha256(path: Path, expected: str, spec: str) -> None:
    """Raise ``ModelFormatError`` unless ``path``'s content has the digest ``expected``.

    About a second per GiB: small beside converting the file.
    """
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != expected:
        raise ModelFormatError(
            f"{spec}: {str(path)!r} has sha256 {digest[:12]}..., the store records "
            f"{expected[:12]}...: the file is damaged or incomplete",
            path=str(path),
        )
