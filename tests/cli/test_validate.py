import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pensieve_loader import ModelStore
from tests.helpers import free_port


def test_unknown_config_key(run: Any, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[server]\nprot = 1\n")
    result = run("validate", "--no-load")
    assert result.exit_code == 1
    assert f"FAIL  config: {tmp_path / 'config.toml'}: unknown key 'server.prot'" in result.output


def test_bad_port(run: Any, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[server]\nport = 70000\n")
    result = run("validate", "--no-load")
    assert result.exit_code == 1
    assert "server.port: 70000 is not a port (1-65535)" in result.output


def test_missing_model(run: Any, tmp_path: Path) -> None:
    result = run(
        "validate",
        "--no-load",
        "--model",
        "no-such-model",
        env={"PENSIEVE_MODELS_DIR": str(tmp_path / "m")},
    )
    assert result.exit_code == 1
    assert "FAIL  model: model 'no-such-model' not found" in result.output


@pytest.fixture(name="models_dir")
def _models_dir(tmp_path: Path) -> Path:
    source = ModelStore().resolve(None).path
    target = tmp_path / "m" / "smol"
    shutil.copytree(source, target)
    return target.parent


def test_corrupt_model_directory(run: Any, models_dir: Path) -> None:
    (models_dir / "smol" / "tokenizer.json").unlink()
    result = run(
        "validate", "--no-load", "--model", "smol", env={"PENSIEVE_MODELS_DIR": str(models_dir)}
    )
    assert result.exit_code == 1
    assert "has no tokenizer" in result.output


def test_valid_setup_passes_and_warns_about_context(run: Any, models_dir: Path) -> None:
    result = run("validate", "--model", "smol", env={"PENSIEVE_MODELS_DIR": str(models_dir)})
    assert result.exit_code == 0, result.output
    assert "ok    model: smol: llama, 4-bit +8-bit, complete" in result.output
    assert (
        "warn  context: 8192 tokens is below what Claude Code's full prompt needs" in result.output
    )
    assert "ok    load: loads in" in result.output


def test_public_bind_without_keys_fails(run: Any) -> None:
    result = run("validate", "--no-load", env={"PENSIEVE_SERVER_HOST": "0.0.0.0"})
    assert result.exit_code == 1
    assert "FAIL  auth: binding beyond loopback needs API keys" in result.output


def test_every_bad_key_is_reported(run: Any, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[server]\nprot = 1\nport = "x"\n[engine]\nmax-active-sequences = 1.5\n'
    )
    result = run("validate", "--no-load", env={"PENSIEVE_SERVER_PING_INTERVAL_S": "soon"})
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL  config")]
    assert len(fails) == 4, result.output
    assert "unknown key 'server.prot'" in result.output
    assert "server.port: expected an integer, got 'x'" in result.output
    assert "engine.max-active-sequences: expected an integer, got 1.5" in result.output
    assert "server.ping-interval-s: expected a number, got 'soon'" in result.output
    assert "a int" not in result.output


def test_validate_json(run: Any) -> None:
    result = run("validate", "--no-load", "--json", env={"PENSIEVE_SERVER_HOST": "0.0.0.0"})
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    by_check = {c["check"]: c for c in report["checks"]}
    assert by_check["auth"]["outcome"] == "FAIL"
    assert by_check["config"]["outcome"] == "ok"


def test_models_rm_and_json(run: Any, models_dir: Path) -> None:
    env = {"PENSIEVE_MODELS_DIR": str(models_dir)}
    listed = json.loads(run("models", "list", "--json", env=env).stdout)
    assert [m["name"] for m in listed["models"] if m["name"] == "smol"] == ["smol"]
    shown = json.loads(run("models", "show", "smol", "--json", env=env).stdout)
    assert shown["context_length"] == 8192
    assert shown["served"] is False
    missing = run("models", "rm", "nope", "--yes", env=env)
    assert missing.exit_code == 1
    assert "no stored model named 'nope'" in missing.output
    removed = run("models", "rm", "smol", "--yes", env=env)
    assert removed.exit_code == 0, removed.output
    assert not (models_dir / "smol").exists()


def test_garbage_weights_are_one_line_everywhere(run: Any, models_dir: Path) -> None:
    import random

    weights = models_dir / "smol" / "model.safetensors"
    weights.write_bytes(random.Random(1).randbytes(4096))
    env = {"PENSIEVE_MODELS_DIR": str(models_dir)}
    for args in (("validate", "--model", "smol"), ("models", "show", "smol")):
        result = run(*args, env=env)
        assert result.exit_code == 1, args
        assert "not a readable safetensors file" in result.output
        assert "Traceback" not in result.output
    # `start` in its own process: it loads OpenBLAS and MLX into the process it runs in.
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "pensieve_app",
            "start",
            "--model",
            "smol",
            "--port",
            str(free_port()),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 1
    assert "not a readable safetensors file" in started.stderr
    assert "Traceback" not in started.stderr
