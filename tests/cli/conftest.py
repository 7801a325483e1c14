from pathlib import Path

import pytest
from click.testing import CliRunner

from pensieve_app.launcher import AppLauncher
from pensieve_app.logging import configure_logging
from pensieve_cli import build_cli
from tests.conftest import ROOT
from tests.store_layouts import isolate_stores


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config, state and models of these tests live in a temporary directory."""
    monkeypatch.setenv("PENSIEVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("PENSIEVE_STATE_DIR", str(tmp_path / "state"))
    # The checkout's models/, where the embedded model is already converted (never the user's).
    monkeypatch.setenv("PENSIEVE_MODELS_DIR", str(ROOT / "models"))
    # Other applications' stores and the hub cache: empty, never the user's.
    isolate_stores(tmp_path, monkeypatch)
    for name in (
        "PENSIEVE_SERVER_PORT",
        "PENSIEVE_MODEL",
        "ANTHROPIC_AUTH_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="run")
def _run() -> object:
    configure_logging("warning")  # as the `pensieve` entry point does: logs on stderr
    cli = build_cli(AppLauncher(), version="0.0.test")

    def run(*args: str, env: dict[str, str] | None = None) -> object:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run
