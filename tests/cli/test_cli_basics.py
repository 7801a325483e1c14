import json
from pathlib import Path
from typing import Any

import pytest
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
        "logs",
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
    rows = {line.split()[0]: line.split(None, 1)[1] for line in shown.splitlines()[2:]}
    assert rows["server.port"] == "8002  (env PENSIEVE_SERVER_PORT)"
    assert rows["server.api-keys"] == '["a", "b"]  (file)'
    assert rows["engine.precision"] == '"auto"  (default)'
    assert rows["model"] == "(unset)  (default)"
    assert "None" not in shown
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


def test_completion_script(run: Any) -> None:
    assert "_PENSIEVE_COMPLETE" in run("completion", "bash").output


def test_config_set_keeps_comments_and_layout(run: Any, tmp_path: Path) -> None:
    assert run("config", "init").exit_code == 0
    before = (tmp_path / "config.toml").read_text()
    result = run("config", "set", "server.port", "8001")
    assert result.exit_code == 0
    assert result.output.startswith("server.port = 8001 in ")
    after = (tmp_path / "config.toml").read_text()
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert comments
    assert all(line in after.splitlines() for line in comments)
    assert "port = 8001" in after.split("[server]")[1].split("[engine]")[0]
    assert run("config", "set", "log-level", "debug").exit_code == 0
    assert run("config", "get", "log-level").output.strip() == "debug"
    assert run("config", "get", "server.port").output.strip() == "8001"


def test_config_show_names_the_effective_models_dir(run: Any, tmp_path: Path) -> None:
    env = {"PENSIEVE_MODELS_DIR": str(tmp_path / "models")}
    assert f"# models directory: {tmp_path / 'models'}" in run("config", "show", env=env).output
    report = json.loads(run("config", "show", "--json", env=env).stdout)
    assert report["models_dir"] == str(tmp_path / "models")
    assert report["keys"]["server.port"] == {
        "value": 7777,
        "source": "default",
        "env": "PENSIEVE_SERVER_PORT",
    }
    assert report["keys"]["models-dir"]["source"] == "env"


def test_an_explicit_config_file_must_exist(run: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = run("--config", str(missing), "config", "show")
    assert result.exit_code == 1
    assert f"config file {missing} does not exist" in result.output
    assert run("--config", str(missing), "validate", "--no-load").exit_code == 1
    # Creating it is what init is for.
    assert run("--config", str(missing), "config", "init").exit_code == 0
    assert run("--config", str(missing), "config", "show").exit_code == 0


@pytest.mark.parametrize(
    "how",
    [
        ("start", "--api-key", ""),
        ("start", "--api-key", "good", "--api-key", "  "),
        ("start", "--set", "server.api-keys=a,,b"),
    ],
)
def test_blank_api_keys_are_a_start_error(run: Any, how: tuple[str, ...]) -> None:
    result = run(*how, "--host", "0.0.0.0")
    assert result.exit_code == 1
    assert "server.api-keys: empty or blank entries are not allowed" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_blank_api_keys_from_env_or_file(run: Any, tmp_path: Path) -> None:
    env = {"PENSIEVE_SERVER_API_KEYS": ""}
    result = run("validate", "--no-load", env=env)
    assert result.exit_code == 1
    assert "FAIL  config: server.api-keys: empty or blank entries" in result.output
    (tmp_path / "config.toml").write_text('[server]\napi-keys = [" "]\n')
    result = run("start")
    assert result.exit_code == 1
    assert "server.api-keys: empty or blank entries are not allowed" in result.output


def test_config_set_keeps_a_users_comments_and_formatting(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# my settings\nmodel   =   "smol"  # the small one\n\n[server]\nport = 8000  # dev port\n'
        'allowed-hosts = [\n  "a.example",  # laptop\n]\n'
    )
    result = run("config", "set", "server.port", "8001")
    assert result.exit_code == 0, result.output
    assert run("config", "set", "server.api-keys", "k1, k2").exit_code == 0
    assert path.read_text() == (
        '# my settings\nmodel   =   "smol"  # the small one\n\n[server]\nport = 8001  # dev port\n'
        'allowed-hosts = [\n  "a.example",  # laptop\n]\napi-keys = ["k1", "k2"]\n'
    )
