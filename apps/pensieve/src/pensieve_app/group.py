"""``pensieve start --ranks N`` / ``--distributed HOSTFILE``: a group of ranks under ``mlx.launch``.

This process supervises: it checks the hosts, picks the ports, runs MLX's own launcher (which
starts ``pensieve start`` once per rank, over ssh for other hosts) and, when told to stop, stops
rank 0 gracefully (its followers end with it) before anything is killed. ``mlx.launch`` alone
would not do: it exits 0 whatever its ranks did, and a signal to it alone leaves them running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
import structlog

from pensieve_core import ConfigError
from pensieve_mlx.group_env import default_backend

log = structlog.get_logger()

STOP_GRACE_S = 20.0
"""How long rank 0 may drain before the group is killed (under ``pensieve stop``'s 30 s)."""


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Where the ranks run and how they split the model."""

    hosts: list[str]
    """Each rank's address (rank 0 first: it serves HTTP and must be this machine)."""
    hostfile: Path | None
    backend: str
    parallel: str

    @property
    def local(self) -> bool:
        """Every rank on this machine (``--ranks``)."""
        return self.hostfile is None


def plan_group(ranks: int, hostfile: Path | None, parallel: str, backend: str) -> GroupPlan:
    """Check the group's description; a bad one fails here, in one line."""
    if hostfile is None:
        if ranks < 2:
            raise ConfigError(f"--ranks {ranks}: a group needs at least 2 ranks")
        return GroupPlan(["127.0.0.1"] * ranks, None, backend or default_backend(), parallel)
    try:
        data = json.loads(hostfile.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--distributed {hostfile}: not a readable JSON hostfile ({e})") from e
    entries = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(entries, list) or len(entries) < 2:
        raise ConfigError(f"--distributed {hostfile}: 'hosts' must list at least 2 hosts")
    hosts = []
    for i, entry in enumerate(entries):
        name = entry.get("ssh") if isinstance(entry, dict) else entry
        ips = entry.get("ips") if isinstance(entry, dict) else None
        address = (ips or [name])[0]
        if not isinstance(address, str) or not address:
            raise ConfigError(f"--distributed {hostfile}: host {i} has no 'ssh' name or 'ips'")
        try:
            hosts.append(socket.gethostbyname(address))
        except OSError:
            raise ConfigError(
                f"--distributed {hostfile}: host {i} ({address}) is unknown"
            ) from None
    named = data.get("backend", "") if isinstance(data, dict) else ""
    return GroupPlan(hosts, hostfile, backend or named or default_backend(), parallel)


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free here (the ring takes one per rank)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count < 65536 and all(_free(base + i) for i in range(count)):
            return base
    raise ConfigError(f"no {count} consecutive free ports on this machine")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def launch_argv(plan: GroupPlan, rank_argv: list[str], server_port: int) -> list[str]:
    """``mlx.launch``'s command line for ``plan``, each rank running ``rank_argv``."""
    if plan.local:
        where = ["--hosts", "127.0.0.1", "-n", str(len(plan.hosts))]
        control = f"127.0.0.1:{_free_ports(1)}"
        ports = ["-p", str(_free_ports(len(plan.hosts)))] if plan.backend == "ring" else []
    else:
        assert plan.hostfile is not None
        where = ["--hostfile", str(plan.hostfile)]
        control = f"{plan.hosts[0]}:{server_port + 1}"
        ports = []
    env = [
        f"PENSIEVE_CONTROL={control}",
        f"PENSIEVE_PARALLEL={plan.parallel}",
        f"PENSIEVE_BACKEND={plan.backend}",
    ]
    if not plan.local:  # ranks on other hosts inherit nothing of this shell
        env += [f"{k}={v}" for k, v in os.environ.items() if k.startswith("PENSIEVE_")]
    return [
        sys.executable,
        "-m",
        "pensieve_mlx.launch",  # mlx.launch, less a busy loop (see there)
        *where,
        "--backend",
        plan.backend,
        *ports,
        *(arg for item in env for arg in ("--env", item)),
        "--",
        *rank_argv,
    ]


def supervise(plan: GroupPlan, rank_argv: list[str], url: str, server_port: int) -> None:
    """Run the group until it ends or this process is told to stop."""
    argv = launch_argv(plan, rank_argv, server_port)
    log.info("group_starting", ranks=len(plan.hosts), backend=plan.backend, parallel=plan.parallel)
    # mlx.launch relays its stdin to the ranks, polling it every 0.1 s; at end of file (a detached
    # server's /dev/null) that poll never waits and it spins a core. The ranks read nothing: give
    # it a pipe that stays open and silent. A session of its own: the group is stopped as one.
    silent, keep_open = os.pipe()
    launcher = subprocess.Popen(argv, stdin=silent, start_new_session=True)
    os.close(silent)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _stop_rank0(url, launcher.pid)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        deadline = None
        while launcher.poll() is None:
            if stopping and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _kill_group(launcher.pid)
        os.close(keep_open)
    if not stopping:
        raise click.ClickException(
            "the distributed group stopped (a rank exited; its lines above say which)"
        )


def _stop_rank0(url: str, group: int) -> None:
    """SIGTERM to rank 0 (it drains, then its followers stop); to the whole group if unknown."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            pid = int(json.loads(response.read())["pid"])
        os.kill(pid, signal.SIGTERM)
        return
    except (OSError, ValueError, KeyError):
        pass
    _signal_group(group, signal.SIGTERM)


def _kill_group(group: int) -> None:
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
