"""Shared pieces of the benchmarks: servers, model preparation, machine facts, timing."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, path: str, timeout: float, alive: object = None) -> float:
    """Seconds until ``url+path`` answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if callable(alive) and not alive():
            raise RuntimeError(f"server for {url} exited")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url}{path} not ready after {timeout}s")


@contextmanager
def process(
    argv: list[str], log: Path, env: dict[str, str] | None = None, *, kill: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running, its output in ``log``; stopped on exit (``kill``: at once, no shutdown)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            yield proc
        finally:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def server_env(port: int, cache_dir: Path | None, weights_cache: Path | None) -> dict[str, str]:
    """The environment of a benchmark's server on ``port``: its own state, no user config."""
    env = {
        "PENSIEVE_STATE_DIR": str(WORK / f"state-{port}"),
        "PENSIEVE_CACHE_DIR": str(cache_dir or WORK / f"cache-{port}"),
        # Converted weights are shared: start-up is measured as a user's second start.
        "PENSIEVE_ENGINE_WEIGHTS_CACHE_DIR": str(weights_cache or WORK / "weights"),
        "PENSIEVE_CONFIG": str(WORK / "none.toml"),
    }
    if cache_dir is None:  # the same for the tokenizer each start builds or reads back
        env["PENSIEVE_ENGINE_TOKENIZER_CACHE_DIR"] = str(WORK / "tokenizers")
    return env


@contextmanager
def pensieve(
    model_dir: Path,
    *extra: str,
    cache_dir: Path | None = None,
    weights_cache: Path | None = None,
    kill: bool = False,
) -> Iterator[tuple[str, float]]:
    """A Pensieve server; yields its URL and the seconds from launch to a healthy /health.

    ``cache_dir`` keeps the prefix snapshots (pass the same one to measure a restart) and,
    where given, the tokenizers (default: one directory shared by every benchmark);
    ``weights_cache`` the dequantized weights (default: one shared by every benchmark);
    ``kill``: stopped by SIGKILL, not waiting for a shutdown (or a GPU warm-up) to end.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "pensieve_app",
        "start",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        *extra,
    ]
    env = server_env(port, cache_dir, weights_cache)
    with process(argv, WORK / f"pensieve-{port}.log", env, kill=kill) as proc:
        url = f"http://127.0.0.1:{port}"
        startup = wait_http(url, "/health", 600, alive=lambda: proc.poll() is None)
        yield url, startup


@contextmanager
def mlx_lm_server(model_dir: Path, concurrency: int) -> Iterator[str]:
    """mlx-lm's own OpenAI-compatible server on the same weights."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "mlx_lm",
        "server",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--decode-concurrency",
        str(concurrency),
        "--prompt-concurrency",
        str(min(concurrency, 8)),
        "--log-level",
        "WARNING",
    ]
    with process(argv, WORK / f"mlx-lm-{port}.log") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(url, "/v1/models", 600, alive=lambda: proc.poll() is None)
        yield url


def on_cpu() -> bool:
    import mlx.core as mx

    return bool(mx.default_device() == mx.cpu)


def float32_copy(model_dir: Path) -> Path:
    """The model dequantized to float32 (what Pensieve runs on the CPU), for every contender."""
    target = WORK / f"{model_dir.name}-float32"
    if (target / "config.json").is_file():
        return target
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.utils import dequantize_model

    model, _ = load(str(model_dir))[:2]
    model = dequantize_model(model)
    weights = {k: v.astype(mx.float32) for k, v in tree_flatten(model.parameters())}
    tmp = target.with_suffix(".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
    config = json.loads((model_dir / "config.json").read_text())
    for key in ("quantization", "quantization_config"):
        config.pop(key, None)
    config["torch_dtype"] = "float32"
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
    ):
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, tmp / name)
    tmp.rename(target)
    return target


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kb = int(meminfo.read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    gpu = ""
    if shutil.which("nvidia-smi"):
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        gpu = query.stdout.strip().splitlines()[0] if query.stdout.strip() else ""
    return {
        "gpu": gpu,
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "mlx": metadata.version("mlx"),
        "mlx-lm": metadata.version("mlx-lm"),
        "pensieve": metadata.version("pensieve-app"),
        "blas": "OpenBLAS preloaded"
        if "libopenblas" in os.environ.get("LD_PRELOAD", "")
        else "MLX built-in",
    }


def machine_label(label: str | None = None) -> str:
    """The machine a section's heading names: ``label`` if given, else the GPU, else the CPU."""
    facts = machine()
    return label or facts["gpu"] or f"{facts['cpu']}, {facts['cores']} cores (CPU)"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True, slots=True)
class Streamed:
    """One streamed answer as the client saw it."""

    ttft: float
    stamps: list[float]
    """When each text delta arrived."""
    text: str
    output_tokens: int
    """From the final usage (a delta may carry several tokens)."""


def stream_message(
    url: str,
    text: str,
    max_tokens: int,
    client: httpx.Client | None = None,
    model: str = "claude-bench",
) -> Streamed:
    """One greedy streamed ``POST /v1/messages`` (on ``client`` when given)."""
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    stamps: list[float] = []
    pieces: list[str] = []
    output = 0
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if client is None:
            headers = {"x-api-key": API_KEY}
            client = stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=900))
        response = stack.enter_context(client.stream("POST", "/v1/messages", json=body))
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content_block_delta"' in line:
                stamps.append(time.perf_counter())
                pieces.append(json.loads(line[6:])["delta"].get("text", ""))
            elif line.startswith("data: ") and '"message_delta"' in line:
                output = json.loads(line[6:])["usage"]["output_tokens"]
    ttft = stamps[0] - started if stamps else float("nan")
    return Streamed(ttft, stamps, "".join(pieces), output)


def write_section(path: Path, marker: str, section: str) -> None:
    """Replace the section of ``path`` whose heading starts with ``marker`` by ``section``.

    A new section goes before "## Reading the figures" (or at the end).
    """
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    start = text.find(marker)
    if start != -1:
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + text[end + 1 :] if end != -1 else text[:start]
    anchor = text.find("## Reading the figures")
    text = text[:anchor] + section + "\n" + text[anchor:] if anchor != -1 else text + "\n" + section
    path.write_text(text)
