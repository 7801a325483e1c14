"""``pensieve validate``: config, model, port and auth, each reported pass or fail."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import click

from pensieve_cli.context import CliContext, pass_cli
from pensieve_core import ConfigError, PensieveError

CLAUDE_CODE_PROMPT_TOKENS = 30_000
"""About what Claude Code's full prompt needs (system prompt plus tool schemas)."""
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@click.command()
@click.option(
    "--model", "-m", default=None, help="Validate this model instead of the configured one."
)
@click.option("--no-load", is_flag=True, help="Skip loading the model (metadata checks only).")
@pass_cli
def validate(ctx: CliContext, model: str | None, no_load: bool) -> None:
    """Check config, model, port and auth. Exit code 0 when everything passes."""
    failures = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        click.echo(
            f"{click.style('ok  ', fg='green') if ok else click.style('FAIL', fg='red')}  {what}: {detail}"
        )

    try:
        settings = ctx.settings({"model": model})
    except ConfigError as e:
        report(False, "config", str(e))
        raise SystemExit(1) from None
    report(
        True,
        "config",
        f"{ctx.config_path}" + ("" if ctx.config_path.is_file() else " (absent: defaults)"),
    )
    _check_model(ctx, settings["model"], settings["models-dir"], no_load, report)
    host, port = settings["server.host"], settings["server.port"]
    report(
        _port_free(host, port),
        "port",
        f"{host}:{port} " + ("is free" if _port_free(host, port) else "is in use"),
    )
    public = host not in LOOPBACK
    auth_ok = not public or bool(settings["server.api-keys"]) or settings["server.allow-public"]
    report(
        auth_ok,
        "auth",
        "API keys set"
        if settings["server.api-keys"]
        else (
            "loopback only, no keys needed"
            if not public
            else "binding beyond loopback needs API keys (or --allow-public)"
        ),
    )
    raise SystemExit(1 if failures else 0)


Report = Callable[[bool, str, str], None]


def _check_model(
    ctx: CliContext, ref: str | None, models_dir: str | None, no_load: bool, report: Report
) -> None:
    from pensieve_loader import ModelStore, default_models_dir

    store = ModelStore(
        models_dir=Path(models_dir) if models_dir else default_models_dir(), allow_download=False
    )
    try:
        resolved = store.resolve(ref)
    except PensieveError as e:
        report(False, "model", str(e))
        return
    s = resolved.summary
    report(True, "model", f"{resolved.name}: {s.architecture}, {s.quantization}, complete")
    if s.context_length < CLAUDE_CODE_PROMPT_TOKENS:
        click.echo(
            f"warn  context: {s.context_length} tokens is below what Claude Code's full prompt needs "
            f"(about {CLAUDE_CODE_PROMPT_TOKENS}); use `claude --bare` or a longer-context model"
        )
    else:
        report(True, "context", f"{s.context_length} tokens")
    if not no_load:
        try:
            report(True, "load", ctx.launcher.check_loadable(s.path))
        except PensieveError as e:
            report(False, "load", str(e))
