"""The application's implementation of the CLI's ``Launcher`` port."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import structlog

from pensieve_cli import GroupSpec, Settings, SettingSpec
from pensieve_cli.progress import ProgressReporter
from pensieve_core import ConfigError, ModelLoadError, base_url

if TYPE_CHECKING:
    from pensieve_app.config import AppConfig
    from pensieve_app.serving import Planned

log = structlog.get_logger()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (less per-chunk overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def raise_open_file_limit() -> None:
    """Raise the soft limit on open files to the hard one.

    Each connection holds a descriptor, and the common soft default (1024) lets one client's
    idle sockets lock everyone out.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    for target in (wanted, 10240):  # macOS refuses more than OPEN_MAX for the soft limit
        if soft >= target:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.debug("open_file_limit_raised", soft=target, hard=hard)
            return
        except (ValueError, OSError):
            continue


def keep_gpu_kernels() -> None:
    """Keep the GPU kernels MLX compiles on first use in the user's cache directory.

    MLX's CUDA backend compiles kernels at run time (a fresh start of a 4-bit model spends most of
    its 15 s there) and keeps them in ``MLX_PTX_CACHE_DIR``, by default under the temporary
    directory, which a reboot empties and another user may own. A value the user set is kept.
    """
    from pensieve_cli.paths import cache_dir

    os.environ.setdefault("MLX_PTX_CACHE_DIR", str(cache_dir() / "mlx-kernels"))


def prepare_transformers() -> None:
    """Keep transformers' model table in the user's cache directory, keep PyTorch unimported.

    See ``pensieve_mlx.transformers_import``.
    """
    from pensieve_cli.paths import cache_dir
    from pensieve_mlx.transformers_import import prepare_transformers as prepare

    prepare(cache_dir() / "transformers")


class AppLauncher:
    """Builds the engine, hands it to the server and serves. Heavy imports happen in methods."""

    def settings(self) -> Sequence[SettingSpec]:
        """Every configuration key."""
        from pensieve_app.config import setting_specs

        return setting_specs()

    def command(self) -> list[str]:
        """Run ``pensieve`` through this interpreter."""
        return [sys.executable, "-m", "pensieve_app"]

    def runtime_precision(self, quantization: str) -> str:
        """How the engine would hold these weights here."""
        from pensieve_mlx import describe_precision

        return describe_precision(quantization)

    def check_loadable(self, model_dir: Path) -> str:
        """Load the model with MLX."""
        from pensieve_app import openblas

        openblas.load_openblas()
        prepare_transformers()
        from pensieve_mlx import load_model

        try:
            loaded = load_model(model_dir)
        except (ValueError, RuntimeError) as e:
            raise ModelLoadError(f"{model_dir}: {e}") from e
        return f"loads in {loaded.load_time_s:.1f}s on {loaded.device} as {loaded.precision}"

    def serve_group(self, settings: Settings, group: GroupSpec, rank_argv: list[str]) -> None:
        """Run ``rank_argv`` as every rank of a group under ``mlx.launch``, until stopped."""
        from pensieve_app.config import server_config
        from pensieve_app.group import plan_group, supervise

        config = server_config(settings)
        config.check_binding()
        plan = plan_group(group.ranks, group.hostfile, group.parallel, group.backend)
        supervise(plan, rank_argv, base_url(config.host, config.port), config.port)

    def serve(self, settings: Settings) -> None:
        """Bind the address, resolve and load the model, then serve until interrupted.

        A rank of a group that is not rank 0 serves no HTTP: it loads its share of the model and
        follows rank 0's steps.
        """
        from pensieve_app import openblas
        from pensieve_mlx.group_env import launched_rank

        openblas.load_openblas()  # before anything imports MLX
        keep_gpu_kernels()
        prepare_transformers()  # before anything imports transformers
        rank = launched_rank()
        if rank:
            self._follow(settings, rank)
            return
        from pensieve_app.banner import banner
        from pensieve_app.config import server_config
        from pensieve_app.serving import served_models
        from pensieve_app.thinking_key import stored_thinking_key
        from pensieve_cli.paths import state_dir
        from pensieve_metrics import MetricsRegistry
        from pensieve_server import bind_socket, bound_address, create_app, drain_of, serve

        top = _logged(settings)
        config = server_config(settings)
        config.check_binding()
        raise_open_file_limit()
        # Bound first: a port in use fails in a second, not after the model has loaded.
        sock = bind_socket(config)
        metrics = MetricsRegistry()
        try:
            progress = ProgressReporter(f"converting {top.model or 'the default model'}")
            planned = _planned(settings, top, progress)
            models = served_models(planned, config, metrics, group=_group(rank, planned))
        except BaseException:
            sock.close()
            raise
        app = create_app(
            models,
            config,
            observer=metrics,
            close_engine=True,
            thinking_key=stored_thinking_key(state_dir()),
        )
        host, port = bound_address(sock)
        key = config.api_keys[0] if config.api_keys else None
        default = models.default_engine()
        assert default is not None  # the default model is loaded at start
        click.echo(
            banner(
                default.info,
                bound=base_url(host, port, client=False),
                url=base_url(host, port),
                api_key=key,
                blas=openblas.describe(),
                source=planned[0].resolved.source,
                others=[row for row in models.status() if not row.default],
            ),
            err=True,
        )
        run_event_loop(serve(app, config, sock=sock, drain=drain_of(app)))
        log.info("server_stopped")

    def _follow(self, settings: Settings, rank: int) -> None:
        """A follower rank: its share of the model, stepped by rank 0 until rank 0 stops."""
        from pensieve_mlx import MLXEngine

        planned = _planned(settings, _logged(settings), None)
        engine = MLXEngine.load(planned[0].served, planned[0].config, group=_group(rank, planned))
        log.info("rank_following", model=planned[0].name, group=engine.stats().group)
        engine.follow()
        log.info("rank_stopped")


def _logged(settings: Settings) -> AppConfig:
    """The top-level settings, with logging set up as they say."""
    from pensieve_app.config import app_config
    from pensieve_app.logging import configure_logging

    top = app_config(settings)
    fmt = top.log_format
    configure_logging(top.log_level, json=None if fmt == "auto" else fmt == "json")
    return top


def _planned(
    settings: Settings, top: AppConfig, progress: ProgressReporter | None
) -> list[Planned]:
    """The served models resolved (converted where needed) and planned, not yet loaded."""
    from pensieve_app.config import engine_config, served_entries
    from pensieve_app.serving import plan
    from pensieve_loader import ModelStore, default_models_dir

    store = ModelStore(
        models_dir=Path(top.models_dir) if top.models_dir else default_models_dir(),
        progress=progress,
    )
    return plan(served_entries(top), store, engine_config(settings))


def _group(rank: int | None, planned: list[Planned]) -> Any:
    """The group this rank joins (None: one process), once the models are checked."""
    if rank is None:
        return None
    if len(planned) > 1:
        raise ConfigError("a distributed group serves one model: name one --model")
    from pensieve_mlx.distributed import join_group

    return join_group()
