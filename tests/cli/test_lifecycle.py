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
    started = pensieve("start", "--detach", "--port", str(port), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"at http://127.0.0.1:{port}" in started.stdout
    try:
        status = pensieve("status", "--json", env=env)
        assert status.returncode == 0
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert report["model"] == "smollm2-135m-instruct"
        body = {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json=body, timeout=60)
        assert reply.status_code == 200
        assert json.loads(pensieve("status", "--json", env=env).stdout)["requests_served"] == 1
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
