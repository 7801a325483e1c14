"""A sandbox checkout with only the Makefile and scripts, and a PATH without uv on it."""

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "sh", "make", "env", "cat", "rm", "printf", "dirname", "mkdir", "ls", "uname")


def uv_binary() -> str:
    """The uv that runs this test session (uv sets ``$UV`` in ``uv run``)."""
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv not found"
    return found


def base_python() -> str:
    """A real interpreter outside any virtual environment."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)).resolve())


@pytest.fixture(name="sandbox")
def _sandbox(tmp_path: Path) -> Path:
    """A copy of the checkout's set-up files, and ``bin/`` holding just the tools make needs."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", checkout / "Makefile")
    shutil.copy2(ROOT / "scripts" / "bootstrap-uv.sh", checkout / "scripts" / "bootstrap-uv.sh")
    shutil.copy2(
        ROOT / "scripts" / "install-openblas.sh", checkout / "scripts" / "install-openblas.sh"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    return checkout


def clean_env(**extra: str) -> dict[str, str]:
    """This session's environment (network and certificate settings included) without what
    points at this checkout: the Pensieve settings, the active venv and uv's own variables."""
    drop = ("PENSIEVE_", "VIRTUAL_ENV", "UV", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | extra


def sandbox_env(sandbox: Path, **extra: str) -> dict[str, str]:
    """An environment whose PATH is the sandbox's bin/ only (no uv, no other Python)."""
    env = clean_env(
        PATH=str(sandbox.parent / "bin"), HOME=str(sandbox.parent / "home"), LANG="C.UTF-8"
    )
    if "PIP_CACHE_DIR" not in extra:
        # The user's pip cache keeps the uv wheel download to once per machine.
        env["PIP_CACHE_DIR"] = str(Path.home() / ".cache" / "pip")
    return env | extra
