"""Where models live: ``$PENSIEVE_MODELS_DIR``, else the user's data directory.

A checkout's ``make`` targets point ``PENSIEVE_MODELS_DIR`` at its ``models/``; an installed
``pensieve`` (``uv tool install``) keeps its models in the user data directory. Nothing guesses
from where the package's files happen to sit.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

MODELS_DIR_ENV = "PENSIEVE_MODELS_DIR"


def default_models_dir() -> Path:
    """``$PENSIEVE_MODELS_DIR``, else ``models/`` in the user data directory."""
    if env := os.environ.get(MODELS_DIR_ENV):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("pensieve")) / "models"
