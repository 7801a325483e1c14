"""The ``pensieve`` click group: errors as one line, tracebacks only with ``--debug``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pensieve_cli.commands.claude import claude
from pensieve_cli.commands.config import config
from pensieve_cli.commands.logs import logs
from pensieve_cli.commands.models import models
from pensieve_cli.commands.server import start, stop
from pensieve_cli.commands.status import status
from pensieve_cli.commands.validate import validate
from pensieve_cli.context import CliContext
from pensieve_cli.launcher import Launcher
from pensieve_cli.paths import config_path
from pensieve_core import PensieveError


class PensieveGroup(click.Group):
    """Turns ``PensieveError`` into a one-line error with exit code 1 (unless ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping errors."""
        try:
            return super().invoke(ctx)
        except PensieveError as e:
            obj = ctx.obj
            if isinstance(obj, CliContext) and obj.debug:
                raise
            raise click.ClickException(str(e)) from e


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script (e.g. `eval "$(pensieve completion bash)"`)."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    root = click.get_current_context().find_root()
    assert isinstance(root.command, click.Command)
    click.echo(cls(root.command, {}, "pensieve", "_PENSIEVE_COMPLETE").source())


def build_cli(launcher: Launcher, *, version: str) -> click.Group:
    """Build the command group around the application's launcher."""

    @click.group(cls=PensieveGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(version, prog_name="pensieve")
    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file [default: $PENSIEVE_CONFIG or the user config dir].",
    )
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @click.pass_context
    def cli(ctx: click.Context, config_file: Path | None, debug: bool) -> None:
        """Pensieve: a local LLM server for Claude Code, the Anthropic SDKs and OpenAI clients."""
        ctx.obj = CliContext(
            launcher=launcher,
            config_path=config_file or config_path(),
            debug=debug,
            config_explicit=config_file is not None,
        )

    for command in (start, stop, status, logs, models, config, validate, claude, completion):
        cli.add_command(command)
    return cli
