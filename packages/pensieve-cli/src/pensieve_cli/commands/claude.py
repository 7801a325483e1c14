"""``pensieve claude``: point Claude Code at this server."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import click

from pensieve_cli.commands.server import url_of
from pensieve_cli.context import CliContext, pass_cli


def claude_env(url: str, api_key: str) -> dict[str, str]:
    """The environment Claude Code needs to use this server."""
    return {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
    }


@click.command()
@click.option(
    "--write", is_flag=True, help="Merge the settings into ~/.claude/settings.json (with a backup)."
)
@click.option(
    "--settings-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Another settings.json to write.",
)
@pass_cli
def claude(ctx: CliContext, write: bool, settings_file: Path | None) -> None:
    """Print (or write) what Claude Code needs to use this server."""
    settings = ctx.settings()
    keys = settings["server.api-keys"]
    env = claude_env(
        url_of(settings["server.host"], settings["server.port"]), keys[0] if keys else "local"
    )
    if os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        click.echo(
            "warning: ANTHROPIC_AUTH_TOKEN is set in this shell; Claude Code sends it instead of "
            "ANTHROPIC_API_KEY. Unset it, or set it to the same key.",
            err=True,
        )
    if not write:
        for name, value in env.items():
            click.echo(f"export {name}={value}")
        click.echo(
            "# Shell exports do not reach a running Claude Code: `pensieve claude --write` persists them."
        )
        return
    target = settings_file or Path.home() / ".claude" / "settings.json"
    data: dict[str, object] = {}
    if target.is_file():
        try:
            data = json.loads(target.read_text())
        except json.JSONDecodeError as e:
            raise click.ClickException(f"{target} is not valid JSON ({e}); not touching it") from e
        backup = target.with_name(f"{target.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(target, backup)
        click.echo(f"backup: {backup}")
    existing = data.get("env")
    merged = {**(existing if isinstance(existing, dict) else {}), **env}
    data["env"] = merged
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n")
    click.echo(f"wrote the Pensieve settings into {target}")
