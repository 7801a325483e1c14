from pathlib import Path

import pytest
from click.testing import CliRunner

from pensieve_app.launcher import AppLauncher
from pensieve_cli import build_cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config, state and models of these tests live in a temporary directory."""
    monkeypatch.setenv("PENSIEVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("PENSIEVE_STATE_DIR", str(tmp_path / "state"))
    for name in (
        "PENSIEVE_SERVER_PORT",
        "PENSIEVE_MODEL",
        "PENSIEVE_MODELS_DIR",
        "ANTHROPIC_AUTH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="run")
def _run() -> object:
    cli = build_cli(AppLauncher(), version="0.0.test")

    def run(*args: str, env: dict[str, str] | None = None) -> object:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run
