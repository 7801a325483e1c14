"""Where models live: the checkout's ``models/`` in development, the user data dir otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

MODELS_DIR_ENV = "PENSIEVE_MODELS_DIR"


def checkout_root() -> Path | None:
    """The repository root when running from a source checkout, else ``None``."""
    # packages/pensieve-loader/src/pensieve_loader/paths.py -> the repository is four levels up.
    # An installed copy can sit at a shallower path (``site/pensieve_loader`` near the root).
    parents = Path(__file__).resolve().parents
    if len(parents) < 5:
        return None
    root = parents[4]
    if (root / "models" / "README.md").is_file() and (root / "packages").is_dir():
        return root
    return None


def default_models_dir() -> Path:
    """``$PENSIEVE_MODELS_DIR``, else the checkout's ``models/``, else the user data directory."""
    if env := os.environ.get(MODELS_DIR_ENV):
        return Path(env).expanduser()
    if (root := checkout_root()) is not None:
        return root / "models"
    return Path(platformdirs.user_data_dir("pensieve")) / "models"
