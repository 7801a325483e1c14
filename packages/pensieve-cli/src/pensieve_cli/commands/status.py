"""``pensieve status``."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from pensieve_cli.commands.server import healthy
from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.pidfile import is_ours


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def status(ctx: CliContext, as_json: bool) -> None:
    """Whether the server runs, and its live figures. Exit code 0 only when running and healthy."""
    record = ctx.pid_file().read()
    report: dict[str, Any] = {"running": False}
    if record is not None and is_ours(record):
        report.update(running=True, pid=record.pid, url=record.url, log=record.log)
        health = healthy(record.url)
        report["healthy"] = health is not None
        if health is not None:
            report.update(health)
            report["uptime_s"] = round(time.time() - record.started_at, 1)
    elif record is not None:
        report["stale_pid_file"] = True
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_human(report))
    if not (report["running"] and report.get("healthy")):
        raise SystemExit(1)


def _human(report: dict[str, Any]) -> str:
    if not report["running"]:
        note = (
            " (a stale PID file was found; `pensieve stop` removes it)"
            if report.get("stale_pid_file")
            else ""
        )
        return f"stopped{note}"
    if not report.get("healthy"):
        return f"running (PID {report['pid']}) but not answering at {report['url']}; log: {report['log']}"
    hit = report.get("prefix_cache_hit_rate", 0.0)
    lines = [
        f"running   PID {report['pid']} at {report['url']}",
        f"model     {report.get('model')} ({report.get('device')}, {report.get('precision')})",
        f"uptime    {report['uptime_s']:.0f}s, {report.get('requests_served', 0)} requests served",
        f"load      {report.get('active_sequences', 0)} active, {report.get('queued_requests', 0)} queued",
        f"speed     {report.get('decode_tokens_per_s', 0.0):.1f} tok/s decode (recent requests)",
        f"memory    {_gib(report.get('active_memory_bytes', 0))} active, {_gib(report.get('peak_memory_bytes', 0))} peak",
        f"cache     prefix-cache hit rate {hit:.0%}",
    ]
    return "\n".join(lines)
