"""``pensieve models list | import | pull | show | rm | load | unload``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

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
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also the GGUFs Ollama, LM Studio and the Hugging Face cache hold, to import.",
)
@pass_cli
def list_models(ctx: CliContext, as_json: bool, show_all: bool) -> None:
    """Every model in the models directory and the hub cache; `*` marks the one being served."""
    from pensieve_loader import ModelStore

    store = _store(ctx)
    assert isinstance(store, ModelStore)
    served = served_model(ctx)
    entries = [
        _entry(name, summary, served is not None and name == served[0])
        for name, summary in store.list_models()
    ]
    importable = _importable(store) if show_all else []
    if as_json:
        listing: dict[str, Any] = {"models_dir": str(store.models_dir), "models": entries}
        if show_all:
            listing["importable"] = importable
        click.echo(json.dumps(listing, indent=2))
        return
    if not entries:
        click.echo(
            f"no models yet in {store.models_dir} (the embedded default is converted on first start)"
        )
    else:
        _installed_table(entries, served)
    if show_all:
        _importable_table(store, importable)


def _installed_table(entries: list[dict[str, Any]], served: tuple[str, int] | None) -> None:
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
    _table(rows)
    if served is not None:
        click.echo(f"* served by the running server (PID {served[1]})")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _importable(store: object) -> list[dict[str, Any]]:
    from pensieve_loader import ModelStore

    assert isinstance(store, ModelStore)
    return [
        {
            "source": i.gguf.spec,
            "path": str(i.gguf.path),
            "size_bytes": i.gguf.size,
            "architecture": i.architecture,
            "name": i.gguf.name,
            "imported_as": i.imported_as,
            "problem": i.problem,
        }
        for i in store.importable()
    ]


def _importable_table(store: object, importable: list[dict[str, Any]]) -> None:
    from pensieve_loader import ModelStore
    from pensieve_loader.stores import STORE_NAMES, store_dirs

    assert isinstance(store, ModelStore)
    click.echo("")
    if not importable:
        where = "; ".join(
            f"{STORE_NAMES[key]}: {path}" for key, path in store_dirs(store.hub_cache_dir).items()
        )
        click.echo(f"no GGUFs to import ({where})")
        return
    click.echo("to import (`pensieve models import SOURCE`):")
    rows = [("SOURCE", "ARCH", "SIZE", "NOTE")]
    for i in importable:
        if i["problem"]:
            note = i["problem"]
        elif i["imported_as"]:
            note = f"imported as {i['imported_as']}"
        else:
            note = f"imports as {i['name']}"
        rows.append((i["source"], i["architecture"] or "-", _size(i["size_bytes"]), note))
    _table(rows)


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
@click.argument("source")
@click.option(
    "--name",
    default=None,
    help="Name in the models directory [default: from the file or model name].",
)
@click.option("--force", is_flag=True, help="Convert again even if already imported.")
@click.option(
    "--dtype",
    type=click.Choice(["float16", "float32"]),
    default=None,
    help="Store every tensor as this float type [default: quantized tensors stay quantized at "
    "their width, so the model is about the GGUF's size].",
)
@pass_cli
def import_model(
    ctx: CliContext, source: str, name: str | None, force: bool, dtype: str | None
) -> None:
    """Convert a GGUF into an MLX model directory.

    SOURCE is a .gguf file or a GGUF another application keeps: ollama:NAME[:TAG] (Ollama),
    lmstudio:PUBLISHER/REPO[/FILE] (LM Studio) or hf:ORG/REPO[/FILE] (the Hugging Face cache).
    `pensieve models list --all` shows what they hold.
    """
    from pensieve_loader import ModelStore
    from pensieve_loader.stores import is_store_spec

    from_store = is_store_spec(source)
    store = _store(ctx, label=f"importing {source if from_store else Path(source).name}")
    assert isinstance(store, ModelStore)
    floats: Literal["float16", "float32"] | None = None
    if dtype == "float16":
        floats = "float16"
    elif dtype == "float32":
        floats = "float32"
    if from_store:
        resolved = store.import_store(source, name, force=force, dtype=floats)
    else:
        resolved = store.import_gguf(Path(source).expanduser(), name, force=force, dtype=floats)
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


def _ask_server(ctx: CliContext, name: str, action: str) -> dict[str, Any]:
    """POST ``/v1/pensieve/models/NAME/ACTION`` to the running server; its JSON answer."""
    import urllib.error
    import urllib.parse
    import urllib.request

    running = running_server(ctx)
    if running is None:
        raise click.ClickException("no Pensieve server is running (`pensieve start --detach`)")
    record, _ = running
    request = urllib.request.Request(
        f"{record.url}/v1/pensieve/models/{urllib.parse.quote(name, safe='')}/{action}",
        data=b"{}",
        headers={"content-type": "application/json", "x-api-key": record.api_key or "local"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as e:
        detail = json.loads(e.read() or b"{}").get("error", {}).get("message", str(e))
        raise click.ClickException(detail) from e
    except (urllib.error.URLError, OSError) as e:
        raise click.ClickException(f"the server at {record.url} did not answer: {e}") from e


@models.command("load")
@click.argument("name")
@pass_cli
def load(ctx: CliContext, name: str) -> None:
    """Load a served model in the running server now (it waits for the load)."""
    answer = _ask_server(ctx, name, "load")
    click.echo(f"{answer['model']} is loaded")


@models.command("unload")
@click.argument("name")
@pass_cli
def unload(ctx: CliContext, name: str) -> None:
    """Unload a served model from the running server (refused while it has requests)."""
    answer = _ask_server(ctx, name, "unload")
    state = "unloaded" if answer.get("was_loaded") else "was not loaded"
    click.echo(f"{answer['model']} {state}")
