"""``pensieve logs``: the log of the background server (``start --detach``)."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import TextIO

import click

from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.pidfile import is_ours


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl+C stops).")
@click.option(
    "--lines", "-n", type=click.IntRange(0), default=50, show_default=True, help="Lines to show."
)
@click.option("--previous", is_flag=True, help="The previous run's log (pensieve.log.1).")
@pass_cli
def logs(ctx: CliContext, follow: bool, lines: int, previous: bool) -> None:
    """Print the background server's log (one file per run; the last five runs are kept)."""
    pid_file = ctx.pid_file()
    path = pid_file.log_path
    if previous:
        path = path.with_name(f"{path.name}.1")
    if not path.is_file():
        raise click.ClickException(
            f"no log at {path}: only `pensieve start --detach` writes one "
            "(a foreground server logs to the terminal)"
        )
    with path.open("r", errors="replace") as log:
        for line in deque(log, maxlen=lines) if lines else ():
            click.echo(line, nl=False)
        if follow:
            _follow(log, path, ctx)


def _follow(log: TextIO, path: Path, ctx: CliContext) -> None:
    try:
        while True:
            line = log.readline()
            if line:
                click.echo(line, nl=False)
                continue
            record = ctx.pid_file().read()
            if record is None or not is_ours(record):
                # The server is gone: print what it wrote last, then stop following.
                click.echo(log.read(), nl=False)
                click.echo(f"(the server has stopped; log: {path})", err=True)
                return
            time.sleep(0.25)
    except KeyboardInterrupt:
        return
