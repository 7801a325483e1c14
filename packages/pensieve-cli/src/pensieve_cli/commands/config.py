"""``pensieve config show | path | init | get | set``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.pidfile import is_ours
from pensieve_cli.schema import SettingSpec
from pensieve_cli.settings import Settings, read_file, toml_value
from pensieve_core import ConfigError


@click.group()
def config() -> None:
    """Read and write the config file (flag > PENSIEVE_* env > file > default)."""


@config.command()
@pass_cli
def path(ctx: CliContext) -> None:
    """Print the config file's path."""
    click.echo(str(ctx.config_path))


def effective_models_dir(settings: Settings) -> Path:
    """Where models are stored: ``models-dir``, else ``$PENSIEVE_MODELS_DIR`` or the data dir."""
    from pensieve_loader import default_models_dir

    configured = settings["models-dir"]
    return Path(configured).expanduser() if configured else default_models_dir()


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show_config(ctx: CliContext, as_json: bool) -> None:
    """Every key, its value (as TOML) and where the value came from."""
    settings = ctx.settings()
    models_dir = effective_models_dir(settings)
    if as_json:
        keys = {
            key: {"value": r.value, "source": r.source, "env": settings.specs[key].env}
            for key, r in settings.values.items()
        }
        report = {
            "config_file": str(ctx.config_path),
            "config_file_exists": ctx.config_path.is_file(),
            "models_dir": str(models_dir),
            "keys": keys,
        }
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"# {ctx.config_path}{'' if ctx.config_path.is_file() else ' (not created yet)'}")
    click.echo(f"# models directory: {models_dir}")
    width = max(len(k) for k in settings.values)
    for key, resolved in settings.values.items():
        source = resolved.source if resolved.source != "env" else f"env {settings.specs[key].env}"
        shown = "(unset)" if resolved.value is None else toml_value(resolved.value)
        click.echo(f"{key.ljust(width)}  {shown}  ({source})")


@config.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_cli
def init(ctx: CliContext, force: bool) -> None:
    """Write a config file with every key at its default, commented."""
    if ctx.config_path.exists() and not force:
        raise click.ClickException(f"{ctx.config_path} exists (use --force to overwrite)")
    ctx.config_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.config_path.write_text(commented_defaults(ctx.launcher.settings()).as_string())
    click.echo(f"wrote {ctx.config_path}")


def commented_defaults(specs: Sequence[SettingSpec]) -> tomlkit.TOMLDocument:
    """A document with every key commented out at its default, under its help text."""
    document = tomlkit.document()
    document.add(
        tomlkit.comment(
            "Pensieve configuration. Precedence: flag > PENSIEVE_* environment > this file > "
            "default."
        )
    )
    document.add(
        tomlkit.comment("`pensieve config set KEY VALUE` edits this file and keeps its comments.")
    )
    document.add(tomlkit.nl())
    tables: dict[str, Table] = {}
    for spec in specs:
        section, _, name = spec.key.rpartition(".")
        if section and section not in tables:
            tables[section] = tomlkit.table()
            document.add(tomlkit.nl())
            document.add(section, tables[section])
        where: Table | tomlkit.TOMLDocument = tables[section] if section else document
        value = toml_value(spec.default) if spec.default is not None else '""'
        if spec.help:
            where.add(tomlkit.comment(spec.help))
        else:
            where.add(tomlkit.nl())
        where.add(tomlkit.comment(f"{name} = {value}"))
    return document


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
        ",".join(value) if isinstance(value, tuple) else ("" if value is None else str(value))
    )


@config.command("set")
@click.argument("key")
@click.argument("value")
@pass_cli
def set_value(ctx: CliContext, key: str, value: str) -> None:
    """Set KEY to VALUE in the config file, keeping its comments (lists are comma-separated)."""
    specs = {s.key: s for s in ctx.launcher.settings()}
    if key not in specs:
        raise click.ClickException(f"unknown key {key!r} (see `pensieve config show`)")
    read_file(ctx.config_path, specs)  # the file as it is must be valid before it is edited
    parsed = specs[key].parse_text(value, "argument")
    text = ctx.config_path.read_text() if ctx.config_path.is_file() else ""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as e:
        raise ConfigError(f"{ctx.config_path}: not valid TOML: {e}") from e
    _set(document, key, parsed)
    ctx.config_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.config_path.write_text(document.as_string())
    click.echo(f"{key} = {toml_value(parsed)} in {ctx.config_path}")
    record = ctx.pid_file().read()
    if record is not None and is_ours(record):
        click.echo(f"restart the server to apply (PID {record.pid}: `pensieve stop`, then start)")


def _set(document: tomlkit.TOMLDocument, key: str, value: Any) -> None:
    """Set ``section.name`` (or a top-level ``name``) in place."""
    if "." not in key:
        document[key] = value
        return
    section, name = key.split(".", 1)
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document[section] = table
    table[name] = value
