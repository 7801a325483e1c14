"""Copy recorded Claude Code requests into tests/fixtures/claude-code/, with neutral paths.

Usage: python scripts/import-claude-recordings.py SOURCE_DIR [NAME ...]

Each recording folder holds meta.json (the recorder's HOME and working directory) and one JSON
file per request. The recorder's home and working directory, and Claude Code's per-project folder
name derived from them, are rewritten to fixed placeholders, so no machine's paths reach a commit.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HOME = "/home/claude-user"
WORKDIR = "/workspace/project"
PROJECT_SLUG = "-workspace-project"
DESTINATION = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "claude-code"


def neutral(text: str, home: str, workdir: str) -> str:
    """``text`` with the recording's paths replaced by the placeholders."""
    text = re.sub(r"(\.claude/projects/)[^/\s\"\\]+", rf"\g<1>{PROJECT_SLUG}", text)
    return text.replace(home, HOME).replace(workdir, WORKDIR)


def import_recording(folder: Path) -> list[Path]:
    """Copy one recording folder; returns the files written."""
    meta = json.loads((folder / "meta.json").read_text())
    home, workdir = meta["env"]["HOME"], meta["cwd"]
    target = DESTINATION / folder.name
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(folder.glob("*.json")):
        out = target / source.name
        out.write_text(neutral(source.read_text(), home, workdir))
        written.append(out)
    return written


def main() -> None:
    """Import the folders named (every folder of SOURCE_DIR when none is)."""
    source = Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.name for p in source.iterdir() if p.is_dir())
    for name in names:
        for path in import_recording(source / name):
            print(path.relative_to(DESTINATION.parents[2]))


if __name__ == "__main__":
    main()
