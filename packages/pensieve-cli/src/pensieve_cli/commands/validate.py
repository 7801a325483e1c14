"""``pensieve validate``: config, model, port and auth, each reported pass or fail."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import click

from pensieve_cli.commands.server import pensieve_at
from pensieve_cli.context import CliContext, pass_cli
from pensieve_cli.settings import Settings, SettingsError
from pensieve_core import ConfigError, PensieveError, is_loopback

CLAUDE_CODE_PROMPT_TOKENS = 30_000
"""About what Claude Code's full prompt needs (system prompt plus tool schemas)."""

Outcome = Literal["ok", "FAIL", "warn"]


@dataclass(slots=True)
class Report:
    """Every check's outcome, in order."""

    checks: list[dict[str, str]] = field(default_factory=list)

    def add(self, outcome: Outcome, what: str, detail: str) -> None:
        """Record one line."""
        self.checks.append({"check": what, "outcome": outcome, "detail": detail})

    def check(self, ok: bool, what: str, detail: str) -> None:
        """Record a pass or a failure."""
        self.add("ok" if ok else "FAIL", what, detail)

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(c["outcome"] == "FAIL" for c in self.checks)

    def human(self) -> str:
        """One coloured line per check."""
        colours = {"ok": "green", "FAIL": "red", "warn": "yellow"}
        return "\n".join(
            f"{click.style(c['outcome'].ljust(4), fg=colours[c['outcome']])}  "
            f"{c['check']}: {c['detail']}"
            for c in self.checks
        )


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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def validate(ctx: CliContext, model: str | None, no_load: bool, as_json: bool) -> None:
    """Check config, model, port and auth. Exit code 0 when everything passes."""
    report = Report()
    settings = _check_config(ctx, model, report)
    if settings is not None:
        _check_model(ctx, settings["model"], settings["models-dir"], no_load, report)
        _check_port(settings["server.host"], settings["server.port"], report)
        _check_auth(settings, report)
    if as_json:
        click.echo(json.dumps({"ok": not report.failed, **asdict(report)}, indent=2))
    else:
        click.echo(report.human())
    raise SystemExit(1 if report.failed else 0)


def _check_config(ctx: CliContext, model: str | None, report: Report) -> Settings | None:
    try:
        settings = ctx.settings({"model": model})
    except SettingsError as e:
        for problem in e.problems:
            report.check(False, "config", str(problem))
        return None
    except ConfigError as e:
        report.check(False, "config", str(e))
        return None
    report.check(
        True,
        "config",
        f"{ctx.config_path}" + ("" if ctx.config_path.is_file() else " (absent: defaults)"),
    )
    return settings


def _check_port(host: str, port: int, report: Report) -> None:
    if _port_free(host, port):
        report.check(True, "port", f"{host}:{port} is free")
    elif (pid := pensieve_at(host, port)) is not None:
        report.check(True, "port", f"{host}:{port} is served by Pensieve (PID {pid})")
    else:
        report.check(False, "port", f"{host}:{port} is in use by another program")


def _check_auth(settings: Settings, report: Report) -> None:
    host, keys = settings["server.host"], settings["server.api-keys"]
    public = not is_loopback(host)
    if keys:
        report.check(True, "auth", f"{len(keys)} API key(s) set")
    elif not public:
        report.check(True, "auth", "loopback only, no keys needed")
    elif settings["server.allow-public"]:
        report.add("warn", "auth", f"{host} is reachable from other machines without a key")
    else:
        report.check(False, "auth", "binding beyond loopback needs API keys (or --allow-public)")


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
        report.check(False, "model", str(e))
        return
    s = resolved.summary
    report.check(True, "model", f"{resolved.name}: {s.architecture}, {s.quantization}, complete")
    if s.context_length < CLAUDE_CODE_PROMPT_TOKENS:
        report.add(
            "warn",
            "context",
            f"{s.context_length} tokens is below what Claude Code's full prompt needs "
            f"(about {CLAUDE_CODE_PROMPT_TOKENS}); use `claude --bare` or a longer-context model",
        )
    else:
        report.check(True, "context", f"{s.context_length} tokens")
    if not no_load:
        try:
            report.check(True, "load", ctx.launcher.check_loadable(s.path))
        except PensieveError as e:
            report.check(False, "load", str(e))
