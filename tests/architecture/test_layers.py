"""The import-linter contracts in the root pyproject.toml hold."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    # A subprocess keeps import-linter's own module cache out of the test session.
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize("package", ["pensieve-core", "pensieve-server", "pensieve-metrics"])
def test_typed_seams_need_no_type_ignore(package: str) -> None:
    """The engine seam and the server are typed through: no checker escapes in them."""
    src = ROOT / "packages" / package / "src"
    escapes = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert not escapes, escapes
