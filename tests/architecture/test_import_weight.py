"""Light layers stay light: importing them does not drag in MLX or the web stack."""

import subprocess
import sys

import pytest

HEAVY = ["mlx", "mlx_lm", "starlette", "hypercorn", "numpy", "transformers"]

CASES = {
    "pensieve_core": [*HEAVY, "msgspec", "structlog", "click"],
    "pensieve_api": [*HEAVY, "pensieve_core", "structlog"],
    "pensieve_cli": HEAVY,
    "pensieve_loader": HEAVY,
    "pensieve_metrics": HEAVY,
    "pensieve_server": ["mlx", "mlx_lm", "pensieve_loader", "pensieve_mlx", "transformers"],
    "pensieve_app": HEAVY,
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_import_does_not_pull_heavy_modules(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {CASES[module]!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"


def test_cli_help_does_not_import_mlx() -> None:
    code = (
        "import sys\n"
        "from pensieve_app.cli import main\n"
        "sys.argv = ['pensieve', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MLX' if 'mlx' in sys.modules else 'CLEAN')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    assert out.stdout.strip().endswith("CLEAN")
