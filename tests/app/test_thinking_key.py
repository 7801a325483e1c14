"""The thinking-signature key in the state directory."""

import stat
from pathlib import Path

from pensieve_app.thinking_key import KEY_FILE, stored_thinking_key


def test_made_once_private_and_kept(tmp_path: Path) -> None:
    key = stored_thinking_key(tmp_path / "state")
    path = tmp_path / "state" / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored_thinking_key(tmp_path / "state") == key, "a restart signs with the same key"


def test_a_short_or_empty_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_bytes(b"short")
    key = stored_thinking_key(tmp_path)
    assert len(key) == 32
    assert (tmp_path / KEY_FILE).read_bytes() == key
