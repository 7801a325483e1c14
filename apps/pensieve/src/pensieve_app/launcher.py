"""The application's implementation of the CLI's ``Launcher`` port."""

from __future__ import annotations

import asyncio

import click
import structlog

from pensieve_cli import ServeOptions
from pensieve_core import PensieveError

log = structlog.get_logger()


class AppLauncher:
    """Builds the engine, hands it to the server and serves. Heavy imports happen in methods."""

    def serve(self, options: ServeOptions) -> None:
        """Resolve and load the model, then serve until interrupted."""
        from pensieve_app import openblas

        openblas.reexec_with_openblas()
        from pensieve_app.banner import banner
        from pensieve_loader import ModelStore
        from pensieve_mlx import MLXEngine
        from pensieve_server import ServerConfig, create_app, serve

        config = ServerConfig(
            host=options.host,
            port=options.port,
            api_keys=options.api_keys,
            allow_public=options.allow_public,
        )
        try:
            config.check_binding()
            resolved = ModelStore().resolve(options.model)
            engine = MLXEngine.load(resolved.path, name=resolved.name)
        except PensieveError as e:
            raise click.ClickException(str(e)) from e
        app = create_app(engine, config, close_engine=True)
        url = f"http://{options.host}:{options.port}"
        click.echo(
            banner(
                engine.info,
                url=url,
                api_key=options.api_keys[0] if options.api_keys else None,
                blas=openblas.describe(),
                source=resolved.source,
            ),
            err=True,
        )
        try:
            asyncio.run(serve(app, config))
        except OSError as e:
            raise click.ClickException(
                f"cannot listen on {options.host}:{options.port}: {e}"
            ) from e
        log.info("server_stopped")
