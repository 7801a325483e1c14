"""The PID file of a running server, and telling our process from an unrelated one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

KEEP_LOGS = 5
"""Logs of earlier detached runs that are kept (``pensieve.log.1`` is the previous run)."""


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """What ``start`` records about the server it launched."""

    pid: int
    url: str
    started_at: float
    identity: str
    """The process's start time as the OS reports it: a reused PID has another."""
    log: str = ""
    api_key: str = ""
    """The first accepted key, so ``pensieve claude`` can hand it on (the file is 0600)."""


def process_identity(pid: int) -> str | None:
    """An identity for ``pid`` that changes when the PID is reused, or None if it is gone."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            # Field 22 is the start time in clock ticks; split after the ")" of the command name.
            return stat.read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return None
    if sys.platform == "win32":
        return None
    result = subprocess.run(
        ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def is_ours(record: ServerRecord) -> bool:
    """Whether the recorded process is alive and is still the one we launched."""
    identity = process_identity(record.pid)
    return identity is not None and identity == record.identity


class PidFile:
    """``pensieve.pid`` (JSON) in the state directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "pensieve.pid"
        self.log_path = directory / "pensieve.log"

    def read(self) -> ServerRecord | None:
        """The record, or None when there is none or it is unreadable."""
        try:
            data = json.loads(self.path.read_text())
            return ServerRecord(**data)
        except (OSError, json.JSONDecodeError, TypeError):
            return None

    def write(self, pid: int, url: str, started_at: float, *, api_key: str = "") -> ServerRecord:
        """Record a server process (readable by this user only: it may hold an API key)."""
        identity = process_identity(pid) or ""
        record = ServerRecord(
            pid=pid,
            url=url,
            started_at=started_at,
            identity=identity,
            log=str(self.log_path),
            api_key=api_key,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(asdict(record)))
        os.replace(tmp, self.path)
        return record

    def rotate_log(self, keep: int = KEEP_LOGS) -> None:
        """Start a fresh log: ``pensieve.log`` becomes ``.1``, ``.1`` becomes ``.2``, and so on."""
        for n in range(keep - 1, 0, -1):
            older = self.log_path.with_name(f"{self.log_path.name}.{n}")
            if older.exists():
                os.replace(older, self.log_path.with_name(f"{self.log_path.name}.{n + 1}"))
        if self.log_path.exists():
            os.replace(self.log_path, self.log_path.with_name(f"{self.log_path.name}.1"))

    def remove(self, *, only_pid: int | None = None) -> None:
        """Delete the file (only if it still names ``only_pid``, when given)."""
        if only_pid is not None:
            record = self.read()
            if record is None or record.pid != only_pid:
                return
        self.path.unlink(missing_ok=True)
