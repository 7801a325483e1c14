"""``pensieve models list | import | pull | show``."""

from __future__ import annotations

from pathlib import Path

import click

from pensieve_cli.context import CliContext, pass_cli
from pensieve_core import ModelFormatError


def _store(ctx: CliContext) -> object:
    from pensieve_loader import ModelStore, default_models_dir

    configured = ctx.settings()["models-dir"]
    return ModelStore(models_dir=Path(configured) if configured else default_models_dir())


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def _params(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


@click.group()
def models() -> None:
    """Manage models: the models directory and the Hugging Face cache."""


@models.command("list")
@pass_cli
def list_models(ctx: CliContext) -> None:
    """Every model in the models directory and the hub cache."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    rows = [("NAME", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SIZE", "TOOLS")]
    for name, summary in store.list_models():
        if isinstance(summary, ModelFormatError):
            rows.append((name, "invalid", "-", "-", "-", "-", str(summary)[:60]))
        else:
            tools = "native" if summary.supports_tools else "fallback"
            rows.append(
                (
                    name,
                    summary.architecture,
                    _params(summary.parameters),
                    summary.quantization,
                    str(summary.context_length),
                    _size(summary.size_bytes),
                    tools,
                )
            )
    if len(rows) == 1:
        click.echo(
            f"no models yet in {store.models_dir} (the embedded default is converted on first start)"
        )
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


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

    store = _store(ctx)
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
@pass_cli
def show(ctx: CliContext, name: str | None) -> None:
    """Details of one model (the configured or embedded default when NAME is omitted)."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    resolved = store.resolve(name or ctx.settings()["model"])
    s = resolved.summary
    click.echo(f"name          {resolved.name} ({resolved.source})")
    click.echo(f"path          {s.path}")
    click.echo(f"architecture  {s.architecture}")
    click.echo(f"parameters    {_params(s.parameters)} ({s.parameters:,})")
    click.echo(f"stored as     {s.quantization}")
    click.echo(f"runs as       {ctx.launcher.runtime_precision(s.quantization)}")
    click.echo(f"context       {s.context_length} tokens")
    click.echo(f"size on disk  {_size(s.size_bytes)}")
    click.echo(
        f"tools         {'native chat template' if s.supports_tools else 'fallback format (template has no tools)'}"
    )
