"""`pensieve` installed as a tool (uv tool install) works outside the checkout."""

import json
import os
import subprocess
from pathlib import Path

from tests.setup.conftest import ROOT, clean_env, uv_binary


def test_installed_tool_keeps_models_in_the_user_data_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(
        PATH="/usr/bin:/bin",
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        UV_TOOL_DIR=str(tmp_path / "tools"),
        UV_TOOL_BIN_DIR=str(tmp_path / "bin"),
        # The user's uv cache: the wheels are downloaded once per machine, not per test run.
        UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
    )
    installed = subprocess.run(
        [
            uv_binary(),
            "tool",
            "install",
            # Rebuilds the workspace's own packages: uv's cache keys them by pyproject.toml.
            "--reinstall",
            "--overrides",
            "apps/pensieve/tool-overrides.txt",
            "./apps/pensieve",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    pensieve = tmp_path / "bin" / "pensieve"
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(pensieve), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    assert run("--version").stdout.startswith("pensieve, version")
    # The web console's files ship inside the server package (served with no build step).
    assets = {p.name for p in (tmp_path / "tools").rglob("pensieve_server/console/assets/*")}
    assert assets == {"index.html", "console.js", "console.css"}
    shown = json.loads(run("config", "show", "--json").stdout)
    models_dir = home / "data" / "pensieve" / "models"
    assert shown["models_dir"] == str(models_dir)
    assert shown["config_file"] == str(home / "config" / "pensieve" / "config.toml")
    # The embedded model is found through the installed package and converted into the data
    # dir, with progress lines (no terminal here, so lines rather than a bar).
    model = run("models", "show", "--json")
    assert model.returncode == 0, model.stderr
    assert json.loads(model.stdout)["path"] == str(models_dir / "smollm2-135m-instruct")
    assert "converting: 100%" in model.stderr
    assert "PyTorch was not found" not in model.stderr
    assert not any(p.is_relative_to(ROOT) for p in models_dir.rglob("*"))
