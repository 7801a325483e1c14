"""The key that signs thinking blocks, kept in the state directory so that restarts keep it.

A client sends a session's thinking blocks back on every turn; with a key that changed at a
restart they would no longer verify, drop out of the prompt, and change its prefix.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "thinking.key"


def stored_thinking_key(directory: Path) -> bytes:
    """The key in ``directory``, made (readable by this user only) on first use."""
    path = directory / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) >= 32:
        return key
    directory.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(temporary, path)
    return key
