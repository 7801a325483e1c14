"""The ``pensieve`` click group. Commands import their heavy parts lazily."""

from __future__ import annotations

import click

from pensieve_cli.launcher import Launcher, ServeOptions

DEFAULT_PORT = 7777


def build_cli(launcher: Launcher, *, version: str) -> click.Group:
    """Build the command group around the application's launcher."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(version, prog_name="pensieve")
    def cli() -> None:
        """Pensieve: a local LLM server for Claude Code, the Anthropic SDKs and OpenAI clients."""

    @cli.command()
    @click.option(
        "--model", "-m", default=None, help="Model: a name, a directory, a .gguf or a hub id."
    )
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
    @click.option(
        "--port", "-p", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535)
    )
    @click.option("--api-key", "api_keys", multiple=True, help="Accepted API key (repeatable).")
    @click.option(
        "--allow-public",
        is_flag=True,
        help="Allow binding beyond loopback without API keys.",
    )
    def start(
        model: str | None, host: str, port: int, api_keys: tuple[str, ...], allow_public: bool
    ) -> None:
        """Start the server in the foreground (Ctrl+C stops it)."""
        launcher.serve(
            ServeOptions(
                model=model, host=host, port=port, api_keys=api_keys, allow_public=allow_public
            )
        )

    return cli
