"""`make` bootstraps uv without touching the system interpreter (PEP 668), and keeps extras."""

import subprocess
from pathlib import Path

import pytest

from tests.setup.conftest import ROOT, base_python, clean_env, sandbox_env, uv_binary

DEBIAN_PYTHON = Path("/usr/bin/python3")


def _externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return bool(stdlib) and (Path(stdlib) / "EXTERNALLY-MANAGED").is_file()


def _standin(bin_dir: Path, body: str) -> Path:
    """A ``python3`` on PATH that behaves as ``body`` says, and is the real one otherwise."""
    script = bin_dir / "python3"
    script.unlink(missing_ok=True)
    script.write_text(f'#!/bin/bash\n{body}\nexec {base_python()} "$@"\n')
    script.chmod(0o755)
    return script


REFUSE_PIP = """if [ "$1 $2 $3" = "-m pip install" ]; then
  echo "error: externally-managed-environment" >&2
  echo "This environment is externally managed" >&2
  exit 1
fi"""


def _make(sandbox: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=sandbox,
        env=sandbox_env(sandbox, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(name="python3", params=["distribution", "stand-in"])
def _python3(request: pytest.FixtureRequest, sandbox: Path) -> Path:
    """An externally managed ``python3`` first on PATH: Debian's own where it is, else a stand-in."""
    bin_dir = sandbox.parent / "bin"
    if request.param == "distribution" and _externally_managed(DEBIAN_PYTHON):
        (bin_dir / "python3").symlink_to(DEBIAN_PYTHON)
        return bin_dir / "python3"
    return _standin(bin_dir, REFUSE_PIP)


def test_make_bootstraps_uv_where_pip_install_is_refused(sandbox: Path, python3: Path) -> None:
    refused = subprocess.run(
        [str(python3), "-m", "pip", "install", "--dry-run", "uv"],
        env=sandbox_env(sandbox),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr

    result = _make(sandbox, "uv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a private virtual environment" in result.stdout
    version = subprocess.run(
        [str(sandbox / ".tools" / "bin" / "uv"), "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("uv ")
    # The interpreter on PATH got nothing: uv is only in the checkout's .tools/.
    assert subprocess.run([str(python3), "-c", "import uv"], capture_output=True).returncode != 0
    again = _make(sandbox, "uv")
    assert again.returncode == 0
    assert "bootstrapping" not in again.stdout  # installed once


def test_missing_venv_module_names_the_package(sandbox: Path) -> None:
    _standin(
        sandbox.parent / "bin",
        'case "$*" in *ensurepip*|*"-m venv"*) '
        'echo "ModuleNotFoundError: No module named ensurepip" >&2; exit 1;; esac',
    )
    result = _make(sandbox, "uv")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(errors) == 1, result.stderr
    assert "install the python3-venv package" in errors[0]
    assert not (sandbox / ".tools").exists()


def _fake_uv(sandbox: Path) -> Path:
    uv = sandbox.parent / "bin" / "uv"
    uv.write_text('#!/bin/bash\necho "fake uv $*"\n')
    uv.chmod(0o755)
    return uv


def test_a_uv_on_path_is_used_as_it_is(sandbox: Path) -> None:
    uv = _fake_uv(sandbox)
    assert _make(sandbox, "uv").returncode == 0
    assert not (sandbox / ".tools").exists()
    planned = _make(sandbox, "-n", "install")
    assert f"{uv} sync --all-packages --all-groups" in planned.stdout


def test_extras_are_remembered_by_later_targets(sandbox: Path) -> None:
    _fake_uv(sandbox)
    first = _make(sandbox, "-n", "install", "EXTRAS=cuda")
    assert "sync --all-packages --all-groups --extra cuda" in first.stdout
    # `make serve` syncs exactly: without the remembered extra it would uninstall mlx[cuda13].
    later = _make(sandbox, "-n", "serve")
    assert "sync --all-packages --all-groups --extra cuda" in later.stdout
    forgotten = _make(sandbox, "-n", "install", "EXTRAS=")
    assert "--extra" not in forgotten.stdout
    assert "--extra" not in _make(sandbox, "-n", "serve").stdout


def test_the_cuda_extra_resolves() -> None:
    result = subprocess.run(
        [uv_binary(), "sync", "--dry-run", "--all-packages", "--all-groups", "--extra", "cuda"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mlx-cuda-13" in result.stderr + result.stdout


def test_an_active_foreign_venv_brings_no_uv_warning(tmp_path: Path) -> None:
    env = clean_env(
        PATH=f"{Path(uv_binary()).parent}:/usr/bin:/bin", VIRTUAL_ENV=str(tmp_path / "other")
    )
    result = subprocess.run(
        ["make", "--no-print-directory", "env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "does not match" not in result.stdout + result.stderr
    assert str(ROOT / ".venv") in result.stdout
