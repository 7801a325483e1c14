"""``pensieve start`` and ``pensieve stop``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
import msgspec

from pensieve_api import HealthResponse, health_decoder
from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.launcher import GroupSpec
from pensieve_cli.pidfile import PidFile, ServerRecord, is_ours
from pensieve_core import ListenError, base_url


def _model_flags(models: tuple[str, ...]) -> dict[str, Any]:
    """``--model [NAME=]REF`` (repeatable): the first is the default model, the rest join it."""
    if not models:
        return {}
    first, *rest = models
    name, sep, ref = first.partition("=")
    flags: dict[str, Any] = (
        {"model": ref, "model-name": name} if sep and "/" not in name else {"model": first}
    )
    if rest:
        flags["models"] = list(rest)
    return flags


def _flags(
    models: tuple[str, ...],
    host: str | None,
    port: int | None,
    api_keys: tuple[str, ...],
    allow_public: bool,
    sets: tuple[str, ...],
    ctx: CliContext,
    warm: tuple[Path, ...] = (),
) -> dict[str, Any]:
    flags: dict[str, Any] = {
        **_model_flags(models),
        "server.host": host,
        "server.port": port,
        "server.api-keys": list(api_keys) or None,
        "server.allow-public": True if allow_public else None,
        "server.warm-requests": [str(p.resolve()) for p in warm] or None,
    }
    specs = {s.key: s for s in ctx.launcher.settings()}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or key not in specs:
            raise click.BadParameter(
                f"{item!r}: expected KEY=VALUE with a known key", param_hint="--set"
            )
        flags[key] = specs[key].parse_text(raw, "--set")
    return flags


def healthy(url: str) -> HealthResponse | None:
    """``/health``, or None when no Pensieve answers there."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return health_decoder.decode(response.read())
    except urllib.error.HTTPError as e:  # 503: it answers, and says why it cannot serve
        try:
            return health_decoder.decode(e.read()) if e.code == 503 else None
        except (OSError, ValueError, msgspec.DecodeError):
            return None
    except (urllib.error.URLError, OSError, ValueError, msgspec.DecodeError):
        return None


@click.command()
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="A model name, directory, .gguf file, store GGUF (ollama:, lmstudio:, hf:) or Hugging "
    "Face id; NAME=REF serves it as NAME. Repeat it to serve several models: the first is the "
    "default, a model named `fast` gets Claude Code's haiku tier.",
)
@click.option("--host", default=None, help="Address to bind [default: 127.0.0.1].")
@click.option(
    "--port", "-p", type=click.IntRange(1, 65535), default=None, help="Port [default: 7777]."
)
@click.option("--api-key", "api_keys", multiple=True, help="Accepted API key (repeatable).")
@click.option(
    "--allow-public", is_flag=True, help="Allow binding beyond loopback without API keys."
)
@click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Any config key (repeatable)."
)
@click.option(
    "--warm",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A recorded Anthropic request to prefill into the prefix cache at start (repeatable).",
)
@click.option(
    "--ranks",
    type=click.IntRange(2, 256),
    default=None,
    help="Serve the model from N processes on this machine, one MLX distributed group (ring "
    "over loopback; NCCL on CUDA), launched by mlx.launch.",
)
@click.option(
    "--distributed",
    "hostfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve the model from the hosts of an mlx.launch hostfile (JSON); run it on the first "
    "host, which serves HTTP.",
)
@click.option(
    "--parallel",
    type=click.Choice(["auto", "tensor", "pipeline"]),
    default="auto",
    show_default=True,
    help="How a group splits the model: by attention heads (tensor) or by layers (pipeline); "
    "auto: tensor where the model's heads divide by the ranks.",
)
@click.option(
    "--backend",
    type=click.Choice(["ring", "jaccl", "nccl"]),
    default=None,
    help="A group's mx.distributed backend [default: the hostfile's, else nccl on CUDA, "
    "else ring].",
)
@click.option(
    "--detach", "-d", is_flag=True, help="Run in the background; return once it is healthy."
)
@click.option(
    "--wait",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds --detach waits for health.",
)
@pass_cli
def start(
    ctx: CliContext,
    models: tuple[str, ...],
    host: str | None,
    port: int | None,
    api_keys: tuple[str, ...],
    allow_public: bool,
    sets: tuple[str, ...],
    warm: tuple[Path, ...],
    ranks: int | None,
    hostfile: Path | None,
    parallel: str,
    backend: str | None,
    detach: bool,
    wait: float,
) -> None:
    """Start the server (foreground by default; Ctrl+C stops it gracefully)."""
    settings = ctx.settings(_flags(models, host, port, api_keys, allow_public, sets, ctx, warm))
    if "MLX_RANK" in os.environ:
        # One rank of a group that `start --ranks/--distributed` launched: it holds the PID file.
        ctx.launcher.serve(settings)
        return
    url = base_url(settings["server.host"], settings["server.port"])
    pid_file = ctx.pid_file()
    running = pid_file.read()
    # A detached parent records the child before the child starts: that record is this process.
    if running is not None and running.pid != os.getpid() and is_ours(running):
        raise click.ClickException(
            f"a server is already running (PID {running.pid}, {running.url}); `pensieve stop` first"
        )
    keys = settings["server.api-keys"]
    if detach:
        _detach(ctx, pid_file, url, wait, api_key=keys[0] if keys else "")
        return
    pid_file.write(os.getpid(), url, time.time(), api_key=keys[0] if keys else "")
    try:
        if ranks or hostfile:
            group = GroupSpec(ranks or 0, hostfile, parallel, backend or "")
            ctx.launcher.serve_group(settings, group, _rank_argv(ctx))
        else:
            ctx.launcher.serve(settings)
    except ListenError as e:
        raise click.ClickException(listen_message(e)) from e
    finally:
        pid_file.remove(only_pid=os.getpid())


def running_server(ctx: CliContext) -> tuple[ServerRecord, HealthResponse] | None:
    """The background server's record and its ``/health``, when it runs and answers."""
    record = ctx.pid_file().read()
    if record is None or not is_ours(record):
        return None
    health = healthy(record.url)
    return None if health is None else (record, health)


def pensieve_at(host: str, port: int) -> int | None:
    """The PID of the Pensieve server answering on ``host:port``, if one does."""
    health = healthy(base_url(host, port))
    return health.pid if health is not None and health.name == "pensieve" else None


def listen_message(error: ListenError) -> str:
    """The one line for a port we cannot bind, naming a Pensieve server that holds it."""
    if error.in_use and (pid := pensieve_at(error.host, error.port)) is not None:
        return f"{error} (PID {pid}, pensieve)"
    return str(error)


def _child_argv(ctx: CliContext) -> list[str]:
    """The same ``start`` command line, in the foreground."""
    argv = sys.argv[1:]
    args = argv[argv.index("start") :] if "start" in argv else ["start"]
    return [*ctx.launcher.command(), *(a for a in args if a not in ("--detach", "-d"))]


_GROUP_OPTIONS = ("--ranks", "--distributed", "--parallel", "--backend")


def _rank_argv(ctx: CliContext) -> list[str]:
    """What each rank of a group runs: this ``start``, less the group's own options."""
    argv, skip = [], False
    for arg in _child_argv(ctx):
        if skip:
            skip = False
        elif arg in _GROUP_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _GROUP_OPTIONS)):
            argv.append(arg)
    return argv


def _detach(ctx: CliContext, pid_file: PidFile, url: str, wait: float, *, api_key: str) -> None:
    pid_file.log_path.parent.mkdir(parents=True, exist_ok=True)
    # One log per run: a failure tail must show this run's errors, not an earlier one's.
    pid_file.rotate_log()
    env = {**os.environ, "PENSIEVE_CONFIG": str(ctx.config_path), "PYTHONUNBUFFERED": "1"}
    with pid_file.log_path.open("ab") as log:
        child = subprocess.Popen(
            _child_argv(ctx),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    pid_file.write(child.pid, url, time.time(), api_key=api_key)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pid_file.remove(only_pid=child.pid)
            raise click.ClickException(
                f"the server exited (code {child.returncode}); the end of its log "
                f"({pid_file.log_path}):\n{_tail(pid_file.log_path)}"
            )
        if (health := healthy(url)) is not None and health.status == "ok":
            click.echo(f"Pensieve is running in the background (PID {child.pid}) at {url}")
            click.echo(f"  log: {pid_file.log_path} (`pensieve logs -f`)\n  stop: pensieve stop")
            return
        time.sleep(0.25)
    child.terminate()
    pid_file.remove(only_pid=child.pid)
    raise click.ClickException(
        f"the server did not become healthy in {wait:.0f}s:\n{_tail(pid_file.log_path)}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@click.command()
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait before SIGKILL."
)
@pass_cli
def stop(ctx: CliContext, timeout: float) -> None:
    """Stop the background server: SIGTERM, drain, then SIGKILL after the timeout."""
    pid_file = ctx.pid_file()
    record = pid_file.read()
    if record is None:
        raise click.ClickException("no server is running (no PID file)")
    if not is_ours(record):
        pid_file.remove()
        raise click.ClickException(
            f"no server is running (removed a stale PID file for PID {record.pid})"
        )
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_ours(record):
        time.sleep(0.1)
    if is_ours(record):
        click.echo(f"still running after {timeout:.0f}s: sending SIGKILL", err=True)
        os.kill(record.pid, signal.SIGKILL)
    pid_file.remove(only_pid=record.pid)
    click.echo(f"stopped (PID {record.pid})")
