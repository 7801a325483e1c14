import json
from pathlib import Path
from typing import Any

from click.testing import Result


def test_version_and_help(run: Any) -> None:
    result: Result = run("--version")
    assert result.output.strip() == "pensieve, version 0.0.test"
    help_text = run("--help").output
    for command in (
        "start",
        "stop",
        "status",
        "models",
        "config",
        "validate",
        "claude",
        "completion",
    ):
        assert command in help_text


def test_config_precedence_flag_env_file_default(run: Any, tmp_path: Path) -> None:
    assert run("config", "set", "server.port", "8001").exit_code == 0
    assert run("config", "set", "server.api-keys", "a,b").exit_code == 0
    assert run("config", "get", "server.port").output.strip() == "8001"
    assert run("config", "get", "server.api-keys").output.strip() == "a,b"
    env = {"PENSIEVE_SERVER_PORT": "8002"}
    assert run("config", "get", "server.port", env=env).output.strip() == "8002"
    shown = run("config", "show", env=env).output
    assert "server.port                  8002  (env PENSIEVE_SERVER_PORT)" in shown
    assert "server.api-keys              ['a', 'b']  (file)" in shown
    assert "engine.precision             'auto'  (default)" in shown
    assert run("config", "path").output.strip() == str(tmp_path / "config.toml")


def test_config_errors_are_one_line(run: Any) -> None:
    bad = run("config", "set", "server.port", "99999")
    assert bad.exit_code == 1
    assert bad.output == "Error: server.port: 99999 is not a port (1-65535) (argument)\n"
    unknown = run("config", "set", "server.nope", "1")
    assert unknown.exit_code == 1
    assert "unknown key 'server.nope'" in unknown.output
    choice = run("config", "set", "engine.precision", "int3")
    assert "expected one of auto, float32, float16, bfloat16, quantized" in choice.output


def test_config_init_writes_every_key(run: Any, tmp_path: Path) -> None:
    assert run("config", "init").exit_code == 0
    text = (tmp_path / "config.toml").read_text()
    assert "[server]" in text
    assert "# port = 7777" in text
    assert run("config", "init").exit_code == 1  # exists


def test_claude_prints_and_writes(run: Any, tmp_path: Path) -> None:
    printed = run("claude").output
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:7777" in printed
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"model": "opus", "env": {"KEEP": "1"}}))
    result = run(
        "claude", "--write", "--settings-file", str(settings), env={"ANTHROPIC_AUTH_TOKEN": "x"}
    )
    assert result.exit_code == 0
    assert "ANTHROPIC_AUTH_TOKEN is set" in result.output
    data = json.loads(settings.read_text())
    assert data["model"] == "opus"
    assert data["env"]["KEEP"] == "1"
    assert data["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:7777"
    assert list(tmp_path.glob("settings.json.bak-*"))


def test_completion_script(run: Any) -> None:
    assert "_PENSIEVE_COMPLETE" in run("completion", "bash").output
