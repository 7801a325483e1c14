"""``pensieve config show | path | init | get | set``."""

from __future__ import annotations

import click

from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.settings import read_file, to_toml


@click.group()
def config() -> None:
    """Read and write the config file (flag > PENSIEVE_* env > file > default)."""


@config.command()
@pass_cli
def path(ctx: CliContext) -> None:
    """Print the config file's path."""
    click.echo(str(ctx.config_path))


@config.command("show")
@pass_cli
def show_config(ctx: CliContext) -> None:
    """Every key, its value and where the value came from."""
    settings = ctx.settings()
    click.echo(f"# {ctx.config_path}{'' if ctx.config_path.is_file() else ' (not created yet)'}")
    width = max(len(k) for k in settings.values)
    for key, resolved in settings.values.items():
        source = resolved.source if resolved.source != "env" else f"env {settings.specs[key].env}"
        click.echo(f"{key.ljust(width)}  {resolved.value!r}  ({source})")


@config.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_cli
def init(ctx: CliContext, force: bool) -> None:
    """Write a config file with every key at its default, commented."""
    if ctx.config_path.exists() and not force:
        raise click.ClickException(f"{ctx.config_path} exists (use --force to overwrite)")
    lines = [
        "# Pensieve configuration. Precedence: flag > PENSIEVE_* environment > this file > default.",
        "",
    ]
    section = ""
    for spec in ctx.launcher.settings():
        if "." in spec.key and spec.key.split(".")[0] != section:
            section = spec.key.split(".")[0]
            lines += ["", f"[{section}]"]
        name = spec.key.split(".", 1)[-1]
        value = (
            to_toml({name: spec.default}).strip() if spec.default is not None else f'{name} = ""'
        )
        lines += [f"# {spec.help}" if spec.help else "", f"# {value}"]
    ctx.config_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.config_path.write_text("\n".join(lines) + "\n")
    click.echo(f"wrote {ctx.config_path}")


@config.command()
@click.argument("key")
@pass_cli
def get(ctx: CliContext, key: str) -> None:
    """Print one key's resolved value."""
    settings = ctx.settings()
    if key not in settings.values:
        raise click.ClickException(f"unknown key {key!r}")
    value = settings[key]
    click.echo(
        ",".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    )


@config.command("set")
@click.argument("key")
@click.argument("value")
@pass_cli
def set_value(ctx: CliContext, key: str, value: str) -> None:
    """Set KEY to VALUE in the config file (lists are comma-separated)."""
    specs = {s.key: s for s in ctx.launcher.settings()}
    if key not in specs:
        raise click.ClickException(f"unknown key {key!r} (see `pensieve config show`)")
    current = read_file(ctx.config_path, specs)
    current[key] = specs[key].parse_text(value, "argument")
    ctx.config_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.config_path.write_text(to_toml(current))
    click.echo(f"{key} = {current[key]!r} in {ctx.config_path}")
