"""Two real models in one ``pensieve start``: routed by name, loaded and unloaded, both served.

The default model is the embedded SmolLM2 (``main``); the fast one a tiny random-weight llama
with Qwen2.5's vocabulary (``fast``), so the two tokenizers tell which model answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from pensieve_loader.gguf_convert import convert_gguf
from tests.ggufs import qwen_vocab, write_tiny_llama
from tests.servers import API_KEY, Server, failed_start, running_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code"
KEEP_ALIVE_S = 8


@pytest.fixture(name="fast_model", scope="module")
def _fast_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fast")
    write_tiny_llama(root / "fast.gguf", qwen_vocab(), hidden=64, layers=2, seed=5, context=32768)
    return convert_gguf(root / "fast.gguf", root / "fast")


@pytest.fixture(name="server", scope="module")
def _server(fast_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("two-models")
    args = ["--api-key", API_KEY, "--model", "main=default", "--model", f"fast={fast_model}"]
    args += ["--set", f"server.model-keep-alive-s={KEEP_ALIVE_S}"]
    args += ["--set", "server.default-temperature=0"]
    with running_server(root, *args) as server:
        yield server


def _client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"x-api-key": API_KEY}, timeout=300)


def _count(client: httpx.Client, model: str, body: dict[str, Any] | None = None) -> int:
    body = body or {"messages": [{"role": "user", "content": "The quick brown fox jumps."}]}
    answer = client.post("/v1/messages/count_tokens", json={**body, "model": model})
    assert answer.status_code == 200, answer.text
    count = answer.json()["input_tokens"]
    assert isinstance(count, int)
    return count


def _states(client: httpx.Client) -> dict[str, str]:
    return {row["name"]: row["state"] for row in client.get("/v1/pensieve/models").json()}


def test_haiku_names_reach_the_fast_model_and_others_the_main_one(server: Server) -> None:
    with _client(server) as client:
        main, fast = _count(client, "main"), _count(client, "fast")
        assert main != fast, "two tokenizers, two counts"
        assert _count(client, "claude-haiku-4-5-20251001") == fast
        assert _count(client, "claude-opus-4-1") == main
        assert _count(client, "gpt-4o") == main
        listed = {m["id"]: m["display_name"] for m in client.get("/v1/models").json()["data"]}
        assert listed["main"] == "main"
        assert listed["fast"] == "fast"
        assert listed["*haiku*"] == "*haiku* -> fast"
        with anthropic.Anthropic(base_url=server.url, api_key=API_KEY) as sdk:
            answer = sdk.messages.create(
                model="claude-haiku-4-5-20251001",
                max_tokens=8,
                messages=[{"role": "user", "content": "Hello"}],
            )
        assert answer.model == "claude-haiku-4-5-20251001", "the requested name is echoed"
        assert answer.usage.input_tokens == _count(
            client, "fast", {"messages": [{"role": "user", "content": "Hello"}]}
        )


def test_a_claude_code_subagent_request_goes_to_the_fast_model(server: Server) -> None:
    recorded = json.loads((FIXTURES / "d1_tool_read" / "001_POST_v1_messages.json").read_text())
    body = {k: v for k, v in recorded["body_json"].items() if k not in ("stream", "max_tokens")}
    with _client(server) as client:
        fast, main = _count(client, "fast", body), _count(client, "main", body)
        assert fast != main
        # With ANTHROPIC_DEFAULT_HAIKU_MODEL=fast (what `pensieve claude` sets), a `model: haiku`
        # Agent call names "fast"; without it, Claude Code's own haiku id.
        for name in ("fast", "claude-haiku-4-5-20251001"):
            assert _count(client, name, body) == fast


def test_requests_to_both_models_progress_together(server: Server) -> None:
    stamps: dict[str, list[float]] = {"main": [], "fast": []}

    # The tiny fast model decodes a token in a millisecond or two: it gets more of them, so
    # that its stream outlasts the start of the main one.
    lengths = {"main": 48, "fast": 400}

    def stream(model: str) -> None:
        with (
            anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0) as sdk,
            sdk.messages.stream(
                model=model,
                max_tokens=lengths[model],
                messages=[{"role": "user", "content": "Write a long story about a lighthouse."}],
            ) as events,
        ):
            for _ in events.text_stream:
                stamps[model].append(time.perf_counter())

    with _client(server) as client:  # both loaded (the keep-alive may have unloaded one)
        _count(client, "main")
        _count(client, "fast")
    threads = [threading.Thread(target=stream, args=(m,)) for m in ("main", "fast")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(stamps["main"]) > 5
    assert len(stamps["fast"]) > 5
    # Each model streamed while the other was streaming: neither waited for the other's end.
    assert stamps["fast"][0] < stamps["main"][-1]
    assert stamps["main"][0] < stamps["fast"][-1]


def test_an_idle_model_unloads_and_a_later_request_loads_it_again(server: Server) -> None:
    with _client(server) as client:
        _count(client, "fast")
        assert _states(client)["fast"] == "loaded"
        deadline = time.monotonic() + KEEP_ALIVE_S + 15
        while _states(client)["fast"] != "unloaded":
            assert time.monotonic() < deadline, "the idle model was not unloaded"
            time.sleep(0.5)
        assert "model_unloaded" in server.log.read_text()
        _count(client, "claude-haiku-4-5")
        assert _states(client)["fast"] == "loaded"


def test_a_model_with_a_running_stream_is_never_unloaded(server: Server) -> None:
    with _client(server) as client:
        body = {
            "model": "main",
            "max_tokens": 120,
            "stream": True,
            "messages": [{"role": "user", "content": "Count from one to two hundred in words."}],
        }
        seen: list[str] = []
        with client.stream("POST", "/v1/messages", json=body) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n == 4:
                    refused = client.post("/v1/pensieve/models/main/unload")
                    assert refused.status_code == 400, refused.text
                    assert "in flight" in refused.json()["error"]["message"]
                if n % 20 == 0:
                    seen.append(_states(client)["main"])
        assert seen
        assert set(seen) == {"loaded"}, "loaded all through the stream, past the keep-alive"


def test_pensieve_claude_points_the_haiku_tier_at_the_fast_model(server: Server) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pensieve_app", "claude", "--env"],
        env={**os.environ, "PENSIEVE_STATE_DIR": str(server.log.parent / f"state-{server.port}")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exports["ANTHROPIC_MODEL"] == "main"
    assert exports["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "main"
    assert exports["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "fast"
    assert exports["ANTHROPIC_SMALL_FAST_MODEL"] == "fast"


def test_pensieve_models_unload_and_load_against_the_server(server: Server) -> None:
    env = {**os.environ, "PENSIEVE_STATE_DIR": str(server.log.parent / f"state-{server.port}")}

    def pensieve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pensieve_app", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    loaded = pensieve("models", "load", "fast")
    assert loaded.returncode == 0, loaded.stderr
    assert "fast is loaded" in loaded.stdout
    before = httpx.get(f"{server.url}/health").json()["active_memory_bytes"]
    unloaded = pensieve("models", "unload", "claude-haiku-4-5")  # any name routed to it
    assert unloaded.returncode == 0, unloaded.stderr
    assert "fast unloaded" in unloaded.stdout
    after = httpx.get(f"{server.url}/health").json()["active_memory_bytes"]
    assert after < before - 10 * 2**20, "its weights (~40 MiB) were freed"
    status = pensieve("status")
    assert "fast (fast) <- *haiku*: unloaded" in status.stdout, status.stdout
    assert json.loads(pensieve("status", "--json").stdout)["models"][1]["state"] == "unloaded"
    missing = pensieve("models", "load", "nope")
    assert missing.returncode != 0
    assert "Error" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_bad_model_in_the_list_fails_at_start_in_one_line(tmp_path: Path) -> None:
    done = failed_start(
        tmp_path / "state", "--model", "main=default", "--model", "fast=no-such-model"
    )
    assert done.returncode != 0
    assert "no-such-model" in done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "no-such-model" in line]
    assert len(errors) == 1, done.stderr


def test_a_route_to_a_model_not_served_fails_at_start_in_one_line(tmp_path: Path) -> None:
    done = failed_start(tmp_path / "state", "--set", "server.model-routes=gpt-*=nope")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "'nope'" in line]
    assert len(errors) == 1, done.stderr
    assert "model_loaded" not in done.stderr, "refused before any model was loaded"
