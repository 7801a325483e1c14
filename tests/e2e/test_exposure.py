"""A server bound beyond loopback: the banner says so, and every request needs the key."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import running_server


def test_bound_to_all_interfaces_with_a_key(tmp_path: Path) -> None:
    with running_server(tmp_path, "--host", "0.0.0.0", "--api-key", "s3cret") as server:
        url, port = server.url, server.port
        assert httpx.get(f"{url}/v1/models").status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": ""}).status_code == 401
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": "s3cret"}).status_code == 200
    text = server.log.read_text()
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
