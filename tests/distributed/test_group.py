"""One model over two processes (``pensieve start --ranks 2``), MLX's ring backend over loopback.

The group must answer exactly as one process does: greedy text token for token, for one request
and for eight at once, with the same prefix-cache reuse; a rank that dies turns into an error for
the client at once, and the group goes away whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

pytest.importorskip("mlx.core")

from pensieve_loader.gguf_convert import convert_gguf
from tests.ggufs import smollm_vocab, write_tiny_llama
from tests.helpers import free_port
from tests.servers import failed_start, running_server

EIGHT = [f"Question {i}: tell me about the number {i}." for i in range(8)]


@pytest.fixture(name="model", scope="module")
def _model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama whose 4 heads and 2 KV heads split over 2 ranks, and 4 layers too."""
    root = tmp_path_factory.mktemp("group-model")
    write_tiny_llama(root / "tiny.gguf", smollm_vocab(), hidden=64, layers=4, seed=11)
    return convert_gguf(root / "tiny.gguf", root / "tiny")


def _answers(url: str) -> dict[str, Any]:
    """Greedy answers: one request, the same again (from the prefix cache), eight at once."""

    async def ask(client: anthropic.AsyncAnthropic, text: str, max_tokens: int) -> list[Any]:
        message = await client.messages.create(
            model="tiny",
            max_tokens=max_tokens,
            extra_body={"temperature": 0},
            messages=[{"role": "user", "content": text}],
        )
        text_out = "".join(b.text for b in message.content if b.type == "text")
        return [text_out, message.usage.input_tokens, message.usage.cache_read_input_tokens]

    async def run() -> dict[str, Any]:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="local") as client:
            first = await ask(client, "Hello there", 16)
            again = await ask(client, "Hello there", 16)
            eight = await asyncio.gather(*[ask(client, t, 10 + i) for i, t in enumerate(EIGHT)])
        return {"first": first, "again": again, "eight": eight}

    return asyncio.run(run())


@pytest.fixture(name="single", scope="module")
def _single(model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with running_server(tmp_path_factory.mktemp("single"), "--model", str(model)) as server:
        return _answers(server.url)


def _health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/health", timeout=5).json()
    return body


@pytest.mark.parametrize("parallel", ["tensor", "pipeline"])
def test_two_ranks_answer_as_one_process(
    parallel: str, model: Path, single: dict[str, Any], tmp_path: Path
) -> None:
    with running_server(
        tmp_path, "--model", str(model), "--ranks", "2", "--parallel", parallel
    ) as server:
        health = _health(server.url)
        assert health["group"] == f"{parallel} parallel, 2 ranks, ring"
        assert [r["rank"] for r in health["ranks"]] == [0, 1]
        assert all(r["alive"] and r["pid"] > 0 for r in health["ranks"])
        answers = _answers(server.url)
        # Follower memory arrives with its reports (every 2 s).
        deadline = time.monotonic() + 10
        while not _health(server.url)["ranks"][1]["active_memory_bytes"]:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    # Token for token, and the prefix cache served the repeat alike.
    assert answers == single
    assert single["again"][2] > 0
    assert single["first"][0]


def test_a_rank_that_dies_fails_the_stream_at_once_and_the_group_ends(
    model: Path, tmp_path: Path
) -> None:
    with running_server(tmp_path, "--model", str(model), "--ranks", "2") as server:
        follower = _health(server.url)["ranks"][1]["pid"]
        events: list[str] = []
        body = {
            "model": "tiny",
            "max_tokens": 200,
            "temperature": 0,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
        }
        killed = 0.0
        with httpx.stream("POST", f"{server.url}/v1/messages", json=body, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events.append(line[5:].strip())
                if not killed and len(events) > 5:
                    os.kill(follower, signal.SIGKILL)
                    killed = time.monotonic()
        ended = time.monotonic() - killed
        error = json.loads(events[-1])
        assert error["type"] == "error"
        assert error["error"]["type"] == "api_error"
        assert "rank 1 of the distributed group (" in error["error"]["message"]
        assert f"PID {follower}" in error["error"]["message"]
        assert ended < 5
        # mlx.launch stops rank 0 too; the supervisor reports it and nothing is left behind.
        assert server.process.wait(timeout=60) == 1
    log = server.log.read_text()
    assert '"event": "rank_lost"' in log
    assert f'"pid": {follower}' in log
    assert "the distributed group stopped" in log
    assert not _ranks_of(server.port)


def test_a_rank_that_hangs_fails_the_stream_and_health_says_why(
    model: Path, tmp_path: Path
) -> None:
    with running_server(tmp_path, "--model", str(model), "--ranks", "2") as server:
        follower = _health(server.url)["ranks"][1]["pid"]
        body = {
            "model": "tiny",
            "max_tokens": 4000,
            "temperature": 0,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a very long story."}],
        }
        events: list[str] = []
        frozen = 0.0
        try:
            with httpx.stream("POST", f"{server.url}/v1/messages", json=body, timeout=60) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        events.append(line[5:].strip())
                    if not frozen and len(events) > 5:
                        os.kill(follower, signal.SIGSTOP)  # alive, but never answers again
                        frozen = time.monotonic()
            ended = time.monotonic() - frozen
            error = json.loads(events[-1])
            assert error["type"] == "error"
            assert "stopped answering" in error["error"]["message"]
            assert ended < 30  # the silence limit (15 s) and a report's interval
            health = httpx.get(f"{server.url}/health", timeout=5)
            assert health.status_code == 503
            assert health.json()["status"] == "unavailable"
            assert f"PID {follower}" in health.json()["error"]
            refused = httpx.post(f"{server.url}/v1/messages", json={**body, "stream": False})
            assert refused.status_code == 503
            assert refused.json()["error"]["type"] == "api_error"
        finally:
            os.kill(follower, signal.SIGCONT)


def _ranks_of(port: int) -> list[str]:
    """Processes still running a rank of the server on ``port``."""
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if f"--port {port}" in line]


def test_pensieve_stop_stops_every_rank(model: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PENSIEVE_STATE_DIR": str(tmp_path / "state")}
    cli = [sys.executable, "-m", "pensieve_app"]
    started = subprocess.run(
        [*cli, "start", "--model", str(model), "--port", str(port), "--ranks", "2", "--detach"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    assert len(_ranks_of(port)) >= 3  # the supervisor and two ranks (and mlx.launch)
    status = subprocess.run(
        [*cli, "status"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "tensor parallel, 2 ranks, ring" in status.stdout
    assert "rank 1" in status.stdout
    stopped = subprocess.run(
        [*cli, "stop"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 10
    while _ranks_of(port):
        assert time.monotonic() < deadline, _ranks_of(port)
        time.sleep(0.2)


def test_a_bad_hostfile_fails_at_start_in_one_line(model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "hosts.json"
    broken.write_text("{not json")
    result = failed_start(tmp_path, "--model", str(model), "--distributed", str(broken))
    assert result.returncode != 0
    assert "not a readable JSON hostfile" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    unknown = tmp_path / "unknown.json"
    unknown.write_text(
        json.dumps({"hosts": [{"ssh": "127.0.0.1"}, {"ssh": "no-such-host.invalid"}]})
    )
    result = failed_start(tmp_path, "--model", str(model), "--distributed", str(unknown))
    assert "host 1 (no-such-host.invalid) is unknown" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
