"""``pensieve models list | import | pull | show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pensieve_cli.commands.config import effective_models_dir
from pensieve_cli.commands.server import running_server
from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.progress import ProgressReporter
from pensieve_core import ModelFormatError


def _store(ctx: CliContext, *, label: str = "converting") -> object:
    from pensieve_loader import ModelStore

    return ModelStore(
        models_dir=effective_models_dir(ctx.settings()), progress=ProgressReporter(label)
    )


def served_model(ctx: CliContext) -> tuple[str, int] | None:
    """The name and PID of the model the background server serves, if one runs."""
    running = running_server(ctx)
    if running is None:
        return None
    record, health = running
    return health.model, record.pid


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def _params(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


@click.group()
def models() -> None:
    """Manage models: the models directory and the Hugging Face cache."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def list_models(ctx: CliContext, as_json: bool) -> None:
    """Every model in the models directory and the hub cache; `*` marks the one being served."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    served = served_model(ctx)
    entries = [
        _entry(name, summary, served is not None and name == served[0])
        for name, summary in store.list_models()
    ]
    if as_json:
        click.echo(json.dumps({"models_dir": str(store.models_dir), "models": entries}, indent=2))
        return
    if not entries:
        click.echo(
            f"no models yet in {store.models_dir} (the embedded default is converted on first start)"
        )
        return
    rows = [("", "NAME", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SIZE", "TOOLS")]
    for e in entries:
        if e["error"]:
            rows.append(("", e["name"], "invalid", "-", "-", "-", "-", e["error"][:60]))
            continue
        rows.append(
            (
                "*" if e["served"] else "",
                e["name"],
                e["architecture"],
                _params(e["parameters"]),
                e["quantization"],
                str(e["context_length"]),
                _size(e["size_bytes"]),
                "native" if e["supports_tools"] else "fallback",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if served is not None:
        click.echo(f"* served by the running server (PID {served[1]})")


def _entry(name: str, summary: object, served: bool) -> dict[str, Any]:
    from pensieve_loader import ModelSummary

    if isinstance(summary, ModelFormatError):
        return {"name": name, "served": served, "error": str(summary)}
    assert isinstance(summary, ModelSummary)
    return {
        "name": name,
        "served": served,
        "error": "",
        "path": str(summary.path),
        "architecture": summary.architecture,
        "parameters": summary.parameters,
        "quantization": summary.quantization,
        "context_length": summary.context_length,
        "size_bytes": summary.size_bytes,
        "supports_tools": summary.supports_tools,
    }


@models.command("rm")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def remove(ctx: CliContext, name: str, yes: bool) -> None:
    """Delete a model from the models directory (or a repo from the Hugging Face cache)."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    served = served_model(ctx)
    if served is not None and served[0] == name:
        raise click.ClickException(
            f"{name} is being served (PID {served[1]}): `pensieve stop` first"
        )
    if not yes:
        click.confirm(f"delete {name}?", abort=True)
    removed = store.remove(name)
    click.echo(f"removed {name} ({removed})")


@models.command("import")
@click.argument("gguf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--name", default=None, help="Name in the models directory [default: from the file name]."
)
@click.option("--force", is_flag=True, help="Convert again even if already imported.")
@pass_cli
def import_model(ctx: CliContext, gguf: Path, name: str | None, force: bool) -> None:
    """Convert a GGUF file into an MLX model directory."""
    from pensieve_loader import ModelStore

    store = _store(ctx, label=f"importing {gguf.name}")
    assert isinstance(store, ModelStore)
    resolved = store.import_gguf(gguf, name, force=force)
    verb = "imported" if resolved.converted else "already imported"
    click.echo(f"{verb}: {resolved.name} -> {resolved.path}")


@models.command()
@click.argument("repo_id")
@pass_cli
def pull(ctx: CliContext, repo_id: str) -> None:
    """Download a Hugging Face model (MLX format) into the hub cache."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    resolved = store.pull(repo_id)
    click.echo(f"ready: {repo_id} -> {resolved.path}")


@models.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def show(ctx: CliContext, name: str | None, as_json: bool) -> None:
    """Details of one model (the configured or embedded default when NAME is omitted)."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    resolved = store.resolve(name or ctx.settings()["model"])
    s = resolved.summary
    runs_as = ctx.launcher.runtime_precision(s.quantization)
    if as_json:
        served = served_model(ctx)
        entry = _entry(resolved.name, s, served is not None and served[0] == resolved.name)
        click.echo(json.dumps({**entry, "source": resolved.source, "runs_as": runs_as}, indent=2))
        return
    click.echo(f"name          {resolved.name} ({resolved.source})")
    click.echo(f"path          {s.path}")
    click.echo(f"architecture  {s.architecture}")
    click.echo(f"parameters    {_params(s.parameters)} ({s.parameters:,})")
    click.echo(f"stored as     {s.quantization}")
    click.echo(f"runs as       {runs_as}")
    click.echo(f"context       {s.context_length} tokens")
    click.echo(f"size on disk  {_size(s.size_bytes)}")
    click.echo(
        f"tools         {'native chat template' if s.supports_tools else 'fallback format (template has no tools)'}"
    )
