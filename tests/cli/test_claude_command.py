"""`pensieve claude`: the running server's settings, handed to Claude Code or written for it."""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pensieve_cli.commands.claude import output_tokens_for
from pensieve_cli.pidfile import PidFile
from pensieve_core.testing import FakeEngine
from pensieve_server import create_app
from tests.helpers import free_port, serve_in_thread


@pytest.fixture(name="running")
def _running(tmp_path: Path) -> Iterator[str]:
    """A real server over a fake engine, recorded in the PID file as `start` records one."""
    port = free_port()
    with serve_in_thread(create_app(FakeEngine()), port) as url:
        PidFile(tmp_path / "state").write(os.getpid(), url, 0.0, api_key="sk-run")
        yield url


def test_without_a_server_it_warns_and_uses_the_config(run: Any) -> None:
    result = run("claude", "--env")
    assert "warning: no Pensieve server is running" in result.output
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:7777" in result.output
    assert "ANTHROPIC_MODEL" not in result.output


def test_env_names_the_running_server_its_model_and_window(run: Any, running: str) -> None:
    result = run("claude", "--env")
    assert result.exit_code == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.output.splitlines()
        if line.startswith("export ")
    )
    assert exports["ANTHROPIC_BASE_URL"] == running
    assert exports["ANTHROPIC_API_KEY"] == "sk-run"
    for name in (
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
    ):
        assert exports[name] == "fake-model"
    window = int(exports["CLAUDE_CODE_MAX_CONTEXT_TOKENS"])
    assert window == FakeEngine().info.context_length
    assert int(exports["CLAUDE_CODE_MAX_OUTPUT_TOKENS"]) == output_tokens_for(window) == 1024
    assert "does not fit" in result.output  # 4096 tokens cannot hold the full prompt


def test_output_tokens_leave_room_before_auto_compaction() -> None:
    # Claude Code reserves min(output, 20000) and compacts 13,000 tokens before the window ends:
    # with its default 32,000 output tokens a 32k window would compact on every turn.
    for window in (32_768, 65_536, 131_072):
        room = window - min(output_tokens_for(window), 20_000) - 13_000
        assert room >= window // 2 - 1000, window
    assert output_tokens_for(1_000_000) == 20_000


def test_write_project_and_remove(
    run: Any, running: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    user = tmp_path / "home" / ".claude" / "settings.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"model": "opus", "env": {"KEEP": "1"}}))
    result = run("claude", "--write", env={"ANTHROPIC_AUTH_TOKEN": "x"})
    assert result.exit_code == 0, result.output
    assert "ANTHROPIC_AUTH_TOKEN is set" in result.output
    data = json.loads(user.read_text())
    assert data["model"] == "opus"
    assert data["env"]["KEEP"] == "1"
    assert data["env"]["ANTHROPIC_BASE_URL"] == running
    assert list(user.parent.glob("settings.json.bak-*"))

    assert run("claude", "--project").exit_code == 0
    project = tmp_path / ".claude" / "settings.local.json"
    assert json.loads(project.read_text())["env"]["ANTHROPIC_API_KEY"] == "sk-run"

    assert run("claude", "--remove").exit_code == 0
    assert json.loads(user.read_text()) == {"model": "opus", "env": {"KEEP": "1"}}
    assert run("claude", "--remove", "--project").exit_code == 0
    assert json.loads(project.read_text()) == {}
    assert "no Pensieve settings" in run("claude", "--remove").output


def test_runs_claude_with_the_environment_and_its_arguments(running: str, tmp_path: Path) -> None:
    import subprocess

    fake = tmp_path / "claude"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "keys = ('ANTHROPIC_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_MODEL')\n"
        "print(json.dumps({'args': sys.argv[1:], **{k: os.environ.get(k) for k in keys}}))\n"
    )
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PENSIEVE_STATE_DIR": str(tmp_path / "state"),
        "PENSIEVE_CONFIG": str(tmp_path / "config.toml"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pensieve_app",
            "claude",
            "--claude-bin",
            str(fake),
            "--",
            "-p",
            "hi",
            "--bare",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "args": ["-p", "hi", "--bare"],
        "ANTHROPIC_BASE_URL": running,
        "ANTHROPIC_API_KEY": "sk-run",
        "ANTHROPIC_MODEL": "fake-model",
    }


def test_missing_claude_says_how_to_install_it(run: Any, running: str) -> None:
    result = run("claude", "--claude-bin", "no-such-claude-binary")
    assert result.exit_code == 1
    assert "npm install -g @anthropic-ai/claude-code" in result.output
