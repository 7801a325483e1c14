"""``pensieve status``."""

from __future__ import annotations

import json
import time
from typing import Any

import click
import msgspec

from pensieve_api import HealthResponse, ModelHealth
from pensieve_cli.commands.server import healthy
from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.pidfile import ServerRecord, is_ours


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def status(ctx: CliContext, as_json: bool) -> None:
    """Whether the server runs, and its live figures. Exit code 0 only when running and healthy."""
    record = ctx.pid_file().read()
    running = record is not None and is_ours(record)
    health = healthy(record.url) if record is not None and running else None
    if as_json:
        click.echo(json.dumps(_report(record, running, health), indent=2))
    else:
        click.echo(_human(record, running, health))
    if health is None:
        raise SystemExit(1)


def _report(
    record: ServerRecord | None, running: bool, health: HealthResponse | None
) -> dict[str, Any]:
    report: dict[str, Any] = {"running": running}
    if record is not None and running:
        report.update(pid=record.pid, url=record.url, log=record.log, healthy=health is not None)
        if health is not None:
            report.update(msgspec.to_builtins(health))
            report["uptime_s"] = round(time.time() - record.started_at, 1)
    elif record is not None:
        report["stale_pid_file"] = True
    return report


def _human(record: ServerRecord | None, running: bool, health: HealthResponse | None) -> str:
    if record is None or not running:
        stale = " (a stale PID file was found; `pensieve stop` removes it)" if record else ""
        return f"stopped{stale}"
    if health is None:
        return f"running (PID {record.pid}) but not answering at {record.url}; log: {record.log}"
    uptime = time.time() - record.started_at
    lines = [
        f"running   PID {record.pid} at {record.url}",
        f"model     {health.model} ({health.device}, {health.precision})",
        f"uptime    {uptime:.0f}s, {health.requests_served} requests served",
        f"load      {health.active_sequences} active, {health.queued_requests} queued"
        + (" (warming up while idle: a request stops it)" if health.warming_up else ""),
        f"speed     {health.decode_tokens_per_s:.1f} tok/s decode (recent requests)",
        f"memory    {_gib(health.active_memory_bytes)} active, "
        f"{_gib(health.peak_memory_bytes)} peak",
        f"cache     prefix-cache hit rate {health.prefix_cache_hit_rate:.0%}",
    ]
    if len(health.models) > 1:
        lines += _model_lines(health.models)
    if health.group:
        lines += _rank_lines(health)
    if health.error:
        lines.append(f"error     {health.error}")
    return "\n".join(lines)


def _rank_lines(health: HealthResponse) -> list[str]:
    """A group's ranks: where each runs and its memory."""
    lines = [f"group     {health.group}"]
    for rank in health.ranks:
        state = "" if rank.alive else ", GONE"
        lines.append(
            f"          rank {rank.rank}: {rank.host} PID {rank.pid}, "
            f"{_gib(rank.active_memory_bytes)} active, {_gib(rank.peak_memory_bytes)} peak{state}"
        )
    return lines


def _model_lines(models: list[ModelHealth]) -> list[str]:
    """The routing table: each served model, what reaches it and how it is doing."""
    lines = []
    for i, row in enumerate(models):
        marks = [m for m, on in (("default", row.default), ("fast", row.fast)) if on]
        names = [*row.aliases, *row.routes]
        figures = (
            f"{row.active_sequences} active, {row.requests} requests, "
            f"{row.decode_tokens_per_s:.1f} tok/s, {_gib(row.model_bytes)}"
            if row.state == "loaded"
            else row.state
        )
        lines.append(
            ("models    " if i == 0 else "          ")
            + f"{row.name}"
            + (f" ({', '.join(marks)})" if marks else "")
            + (f" <- {', '.join(names)}" if names else "")
            + f": {figures}"
        )
    return lines
