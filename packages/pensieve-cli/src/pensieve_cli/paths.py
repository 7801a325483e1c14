"""Where the CLI keeps its config file and its run state (PID and log files)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def config_path() -> Path:
    """``$PENSIEVE_CONFIG``, else ``config.toml`` in the user's config directory."""
    if env := os.environ.get("PENSIEVE_CONFIG"):
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("pensieve")) / "config.toml"


def cache_dir() -> Path:
    """``$PENSIEVE_CACHE_DIR``, else the user's cache directory (prefix snapshots live here)."""
    if env := os.environ.get("PENSIEVE_CACHE_DIR"):
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("pensieve"))


def state_dir() -> Path:
    """``$PENSIEVE_STATE_DIR``, else the user's state directory."""
    if env := os.environ.get("PENSIEVE_STATE_DIR"):
        return Path(env).expanduser()
    return Path(platformdirs.user_state_dir("pensieve"))
