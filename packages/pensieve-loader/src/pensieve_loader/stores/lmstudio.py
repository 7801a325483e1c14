"""LM Studio's models directory: ``PUBLISHER/REPO/FILE.gguf``, plain files (or symlinks)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pensieve_core import ModelFormatError, ModelNotFoundError
from pensieve_loader.stores.common import (
    StoreGGUF,
    by_repo,
    choose,
    gguf_name,
    is_projector,
    some,
    split_part,
    split_problem,
)

PREFIX = "lmstudio:"
DIR_ENV = "PENSIEVE_LMSTUDIO_DIR"
_MAX_DEPTH = 4


def lmstudio_dir() -> Path:
    """``$PENSIEVE_LMSTUDIO_DIR``, else ``models/`` of LM Studio's home.

    The home is the one ``~/.lmstudio-home-pointer`` names, else ``~/.lmstudio``; older versions
    kept models in ``~/.cache/lm-studio/models``. A models folder moved in LM Studio's settings
    needs the variable.
    """
    if env := os.environ.get(DIR_ENV):
        return Path(env).expanduser()
    home = Path.home()
    default = home / ".lmstudio" / "models"
    candidates = [default, home / ".cache" / "lm-studio" / "models"]
    try:
        named = (home / ".lmstudio-home-pointer").read_text().strip().splitlines()[0]
        candidates.insert(0, Path(named).expanduser() / "models")
    except (OSError, IndexError, UnicodeDecodeError):
        pass
    return next((c for c in candidates if c.is_dir()), default)


def entries(root: Path) -> list[StoreGGUF]:
    """Every GGUF model file under ``root`` (projectors and later parts of split files left out)."""
    groups: dict[Path, list[StoreGGUF]] = {}
    for path in _gguf_files(root):
        if (entry := _entry(root, path)) is not None:
            groups.setdefault(path.parent, []).append(entry)
    found: list[StoreGGUF] = []
    for parent, files in groups.items():
        if parent == root:
            found += files
        else:
            found += by_repo(PREFIX + parent.relative_to(root).as_posix(), files)
    return found


def locate(ref: str, root: Path) -> StoreGGUF:
    """The GGUF ``ref`` (``lmstudio:`` stripped) names: a file, or a directory holding one.

    Raises:
        ModelNotFoundError: no such file or directory, or a directory holding several GGUFs.
        ModelFormatError: a projector, a split GGUF, or an unreadable file.
    """
    rel = PurePosixPath(ref.strip("/"))
    spec = PREFIX + rel.as_posix()
    if not ref.strip("/") or rel.is_absolute() or ".." in rel.parts:
        raise ModelNotFoundError(
            f"{PREFIX}{ref} is not a path in LM Studio's models directory "
            "(PUBLISHER/REPO[/FILE.gguf])",
            model=spec,
        )
    if not root.is_dir():
        raise ModelNotFoundError(
            f"{spec}: no LM Studio models directory at {str(root)!r} (set {DIR_ENV} to it)",
            model=spec,
        )
    target = root / rel
    if target.is_file():
        if not target.name.lower().endswith(".gguf"):
            raise ModelFormatError(f"{spec}: not a .gguf file", path=str(target))
        entry = _entry(root, target)
        if entry is None:
            raise ModelFormatError(
                f"{spec}: a multimodal projector or a later part of a split GGUF, not a model",
                path=str(target),
            )
        return entry.usable()
    if target.is_dir():
        found = [_entry(root, p) for p in _gguf_files(target)]
        return choose([e for e in found if e is not None], spec)
    repos = sorted({e.spec.removeprefix(PREFIX) for e in entries(root)})
    raise ModelNotFoundError(
        f"{spec}: LM Studio has no {rel.as_posix()!r} in {str(root)!r} (it has: {some(repos)})",
        model=spec,
    )


def _gguf_files(top: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        here = Path(dirpath)
        deep = len(here.relative_to(top).parts) >= _MAX_DEPTH
        dirnames[:] = [] if deep else sorted(d for d in dirnames if not d.startswith("."))
        found += [here / f for f in sorted(filenames) if f.lower().endswith(".gguf")]
    return found


def _entry(root: Path, path: Path) -> StoreGGUF | None:
    part = split_part(path.name)
    if is_projector(path.name) or (part is not None and part[0] != 1):
        return None
    spec = PREFIX + path.relative_to(root).as_posix()
    try:
        size = path.stat().st_size
    except OSError as e:
        return StoreGGUF(spec, path, 0, gguf_name(path), problem=f"unreadable ({e.strerror})")
    problem = split_problem(part[1]) if part is not None else ""
    return StoreGGUF(spec, path, size, gguf_name(path), problem=problem)
