"""How a start imports transformers: its tables kept on disk, and PyTorch left alone.

mlx-lm loads tokenizers through ``transformers``, and three costs of importing it buy Pensieve
nothing; none has a switch in transformers 5, so the module that holds them,
``transformers.utils.import_utils``, is adjusted as it loads, in this process only:

- **Its table of models.** Importing ``transformers`` builds the table behind its lazy
  ``transformers.models`` by reading every model file it ships (3,382 files in 5.25) and
  searching each for ``__all__``; ``from transformers import AutoTokenizer`` then builds the same
  table again for the ``models`` package itself. Both together took 0.9 s of a 2.4 s start on
  two CPU cores. The one function that reads the ``models`` directory is wrapped: its result is
  computed once per installation of transformers, kept as JSON in Pensieve's cache directory,
  and read back (a fresh copy for each caller) by later starts. The file is keyed by the
  directory's path and modification times, so an upgraded transformers rebuilds it; a file that
  does not read is rebuilt.
- **Its map of installed distributions.** transformers 5.7 to 5.22 (mlx-lm asks for >= 5.7) call
  ``importlib.metadata.packages_distributions()`` as the module loads, and later versions the
  first time a package's version is not found under its import name. It reads the file list of
  every installed distribution without a ``top_level.txt``: ``python3 -X importtime`` gave the
  module 1.1 s of its own on the GPU machine, whose environment holds 265 distributions, PyTorch
  and JAX among them (3 ms once the map is kept). The map is kept beside
  the model table, keyed by the modification times of the directories on ``sys.path`` (an
  install or removal adds or removes a ``*.dist-info`` there), and read back by later starts.
- **PyTorch and scikit-learn.** Where they are installed, transformers imports them (and through
  them sympy, triton, pandas, scipy) while mlx-lm imports its tokenizer classes, to offer PyTorch
  models and generation helpers that an MLX server never calls: 8.8 s of a 14 s start on the GPU
  machine (docs/benchmarks.md, "Start-up stages"). Transformers decides what is installed through
  one function, ``_is_package_available``; it is wrapped to report these frameworks absent, to
  transformers only: anything else may still import them.

Any surprise in transformers' shape leaves its functions as they were.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pensieve_mlx.cache_files import write_whole

_MODULE = "transformers.utils.import_utils"
_FUNCTION = "create_import_structure_from_path"
_AVAILABLE = "_is_package_available"
_MAPPING = "_package_distribution_mapping"
_DISTRIBUTIONS = "transformers-distributions.json"
UNUSED_FRAMEWORKS = frozenset(
    {"torch", "torchvision", "torchaudio", "sklearn", "tensorflow", "flax", "jax"}
)
"""Packages transformers is told are not installed: it would import them for nothing."""


def prepare_transformers(directory: Path) -> None:
    """Keep transformers' model table in ``directory``; hide the frameworks it need not import.

    Call before anything imports ``transformers``; later it does nothing.
    """
    if _MODULE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder(directory))


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of transformers' import utilities."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _Loader(spec.loader.name, spec.loader.path, self.directory)
        return spec


class _Loader(importlib.machinery.SourceFileLoader):
    """Runs the module as usual, then wraps two of its functions (before anyone binds them)."""

    def __init__(self, fullname: str, path: str, directory: Path) -> None:
        super().__init__(fullname, path)
        self.directory = directory

    def exec_module(self, module: ModuleType) -> None:
        real = importlib.metadata.packages_distributions
        distributions = functools.cache(lambda: _kept_distributions(self.directory, real))
        # transformers < 5.23 builds the map while its module runs: it gets the kept one.
        importlib.metadata.packages_distributions = distributions
        try:
            super().exec_module(module)
        finally:
            importlib.metadata.packages_distributions = real
        if callable(getattr(module, _MAPPING, None)):  # later versions build it on first use
            setattr(module, _MAPPING, distributions)
        original = getattr(module, _FUNCTION, None)
        if callable(original):
            models = Path(self.path).resolve().parents[1] / "models"
            setattr(module, _FUNCTION, _kept(original, models, self.directory))
        available = getattr(module, _AVAILABLE, None)
        if callable(available):
            setattr(module, _AVAILABLE, _without_unused(available))


def _without_unused(original: Callable[..., Any]) -> Callable[..., Any]:
    # Its callers read the global at each call, so every availability check goes through this.
    def _is_package_available(pkg_name: str, return_version: bool = False) -> Any:
        if pkg_name.split(".")[0] in UNUSED_FRAMEWORKS:
            return (False, "N/A") if return_version else (False, None)
        return original(pkg_name, return_version)

    return _is_package_available


def _kept(original: Callable[[Any], Any], models: Path, directory: Path) -> Callable[[Any], Any]:
    text: str | None = None

    def create_import_structure_from_path(module_path: Any) -> Any:
        nonlocal text
        where = Path(module_path)
        if where.name == "__init__.py":
            where = where.parent
        if where != models:
            return original(module_path)  # a model's own package: small, and read as before
        if text is None:
            text = _read_or_build(lambda: original(str(models)), models, directory)
        if text is None:
            return original(module_path)
        return _decode(json.loads(text))  # a fresh copy: callers may change what they get

    return create_import_structure_from_path


def _kept_distributions(
    directory: Path, build: Callable[[], Mapping[str, list[str]]]
) -> dict[str, list[str]]:
    """``build()`` (``importlib.metadata.packages_distributions``), kept in ``directory``."""
    key = hashlib.sha256()
    try:
        here = os.getcwd()
    except OSError:  # removed while this runs
        here = ""
    for entry in sys.path:
        # The working directory is left out: it changes with every file a user saves there.
        if entry in ("", here):
            continue
        try:
            key.update(f"{entry}:{os.stat(entry).st_mtime_ns}\n".encode())
        except OSError:
            key.update(f"{entry}:-\n".encode())
    kept = directory / _DISTRIBUTIONS
    try:
        stored = json.loads(kept.read_text())
        if stored["key"] == key.hexdigest():
            mapping = stored["distributions"]
            if all(isinstance(v, list) for v in mapping.values()):
                return {str(k): [str(d) for d in v] for k, v in mapping.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # not kept yet, kept for other installs, or unreadable: built again below
    mapping = {k: list(v) for k, v in build().items()}
    _write(kept, json.dumps({"key": key.hexdigest(), "distributions": mapping}))
    return mapping


def _write(kept: Path, text: str) -> None:
    """Replace ``kept`` with ``text`` whole (a reader never sees half a file)."""
    with contextlib.suppress(OSError):  # a read-only cache costs the next start the same again
        write_whole(kept, text.encode())


def _read_or_build(build: Callable[[], Any], models: Path, directory: Path) -> str | None:
    """The table as JSON text: from ``directory`` if it is there and current, else built."""
    key = hashlib.sha256(
        f"{models}:{models.stat().st_mtime_ns}:{(models / '__init__.py').stat().st_mtime_ns}".encode()
    ).hexdigest()[:24]
    kept = directory / f"transformers-models-{key}.json"
    try:
        text = kept.read_text()
        _decode(json.loads(text))
        return text
    except (OSError, ValueError, TypeError, KeyError):
        pass  # not kept yet, or unreadable: built again below
    table = build()
    try:
        text = json.dumps(_encode(table), separators=(",", ":"))
    except TypeError:
        return None  # a shape this module does not know: transformers' own function is used
    _write(kept, text)
    return text


def _encode(value: Any) -> Any:
    """JSON for the table's dicts (keys: names or frozensets of backends), sets and strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {"dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"frozenset": sorted(_encode(v) for v in value)}
    if isinstance(value, set):
        return {"set": sorted(_encode(v) for v in value)}
    raise TypeError(type(value).__name__)


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if "dict" in value:
        return {_decode(k): _decode(v) for k, v in value["dict"]}
    if "frozenset" in value:
        return frozenset(_decode(v) for v in value["frozenset"])
    return {_decode(v) for v in value["set"]}
