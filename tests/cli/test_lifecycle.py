"""start --detach -> status -> a real request -> stop -> status, as a user runs them."""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import httpx

from pensieve_cli.pidfile import PidFile
from tests.helpers import free_port


def pensieve(
    *args: str, env: dict[str, str], timeout: float = 320
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pensieve_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_detach_status_request_stop(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PENSIEVE_STATE_DIR": str(tmp_path / "state"),
        "PENSIEVE_CONFIG": str(tmp_path / "c.toml"),
    }
    port = free_port()
    failed = pensieve("start", "--detach", "--port", str(port), "--model", "no-such-model", env=env)
    assert failed.returncode == 1
    assert "model 'no-such-model' not found" in failed.stderr
    started = pensieve("start", "--detach", "--port", str(port), "--api-key", "k1", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"at http://127.0.0.1:{port}" in started.stdout
    try:
        _while_running(env, port, tmp_path)
        status = pensieve("status", "--json", env=env)
        assert status.returncode == 0
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert report["model"] == "smollm2-135m-instruct"
        assert report["warming_up"] is False  # the CPU has no warm-up
        body = {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/messages",
            json=body,
            headers={"x-api-key": "k1"},
            timeout=60,
        )
        assert reply.status_code == 200
        assert json.loads(pensieve("status", "--json", env=env).stdout)["requests_served"] == 1
        _log_is_this_runs_and_structured(env)
    finally:
        stopped = pensieve("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    after = pensieve("status", env=env)
    assert after.returncode == 1
    assert after.stdout.strip() == "stopped"
    assert not (tmp_path / "state" / "pensieve.pid").exists()


def test_stale_pid_file_never_signals_an_unrelated_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PENSIEVE_STATE_DIR": str(tmp_path / "state"),
        "PENSIEVE_CONFIG": str(tmp_path / "c.toml"),
    }
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = PidFile(tmp_path / "state")
        record = pid_file.write(bystander.pid, "http://127.0.0.1:1", 0.0)
        # The PID was reused: the recorded process had another start time.
        pid_file.path.write_text(json.dumps({**asdict(record), "identity": "another-process"}))
        result = pensieve("stop", env=env, timeout=30)
        assert result.returncode == 1
        assert "removed a stale PID file" in result.stderr
        assert bystander.poll() is None, "the unrelated process must not be signalled"
        assert not pid_file.path.exists()
        status = pensieve("status", env=env, timeout=30)
        assert status.returncode == 1
    finally:
        bystander.kill()
        bystander.wait()


def _while_running(env: dict[str, str], port: int, tmp_path: Path) -> None:
    """What a user checks while the background server runs."""
    pid = json.loads(pensieve("status", "--json", env=env).stdout)["pid"]
    # A second server on the same port (another state dir, so the PID file does not stop it):
    # one line, before any model loads.
    other = {**env, "PENSIEVE_STATE_DIR": str(tmp_path / "other")}
    clash = pensieve("start", "--port", str(port), env=other, timeout=60)
    assert clash.returncode == 1
    assert clash.stderr.strip() == (
        f"Error: cannot listen on 127.0.0.1:{port}: address in use (PID {pid}, pensieve)"
    )
    assert "Traceback" not in clash.stdout + clash.stderr
    assert "listening" not in clash.stdout + clash.stderr

    validated = pensieve("validate", "--no-load", env={**env, "PENSIEVE_SERVER_PORT": str(port)})
    assert f"ok    port: 127.0.0.1:{port} is served by Pensieve (PID {pid})" in validated.stdout

    listed = json.loads(pensieve("models", "list", "--json", env=env).stdout)
    served = [m["name"] for m in listed["models"] if m["served"]]
    assert served == ["smollm2-135m-instruct"]
    assert "* served by the running server" in pensieve("models", "list", env=env).stdout
    refused = pensieve("models", "rm", "smollm2-135m-instruct", "--yes", env=env)
    assert refused.returncode == 1
    assert "is being served" in refused.stderr

    # The running server's address and key, not the config's (whose port is 7777).
    exports = pensieve("claude", "--env", env=env)
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in exports.stdout
    assert "export ANTHROPIC_API_KEY=k1" in exports.stdout
    assert "export ANTHROPIC_MODEL=smollm2-135m-instruct" in exports.stdout
    assert "export ANTHROPIC_DEFAULT_HAIKU_MODEL=smollm2-135m-instruct" in exports.stdout
    assert "export CLAUDE_CODE_MAX_CONTEXT_TOKENS=8192" in exports.stdout
    assert "8192-token window" in exports.stderr

    changed = pensieve("config", "set", "engine.max-output-tokens", "100", env=env)
    assert "restart the server to apply" in changed.stdout


def _log_is_this_runs_and_structured(env: dict[str, str]) -> None:
    log = pensieve("logs", "-n", "1000", env=env).stdout
    assert "no-such-model" not in log  # the failed run's log was rotated away
    assert "no-such-model" in pensieve("logs", "--previous", env=env).stdout
    assert "PyTorch was not found" not in log
    assert "/health" not in log  # health polls are not logged at info
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert any(n.startswith("Running on") for n in names), names  # Hypercorn's, as JSON
    assert "request_finished" in names or "message_finished" in names, names
