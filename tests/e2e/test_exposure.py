"""A server bound beyond loopback: the banner says so, and every request needs the key."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import free_port, wait_healthy


def test_bound_to_all_interfaces_with_a_key(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pensieve_app",
                "start",
                "--host",
                "0.0.0.0",
                "--port",
                str(port),
                "--api-key",
                "s3cret",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PENSIEVE_STATE_DIR": str(tmp_path / "state")},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=300, alive=lambda: process.poll() is None)
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": ""}).status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": "s3cret"}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)
    text = log.read_text()
    assert (
        f"listening http://0.0.0.0:{port} (all interfaces; on this machine "
        f"http://127.0.0.1:{port})" in text
    )
    assert "auth      API key required" in text
    assert "PyTorch was not found" not in text


def test_empty_key_on_a_public_address_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pensieve_app", "start", "--host", "0.0.0.0", "--api-key", ""],
        env={**os.environ, "PENSIEVE_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: server.api-keys: empty or blank entries are not allowed, got [''] (flag)"
    ]
