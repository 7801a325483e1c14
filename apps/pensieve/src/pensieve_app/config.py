"""The application's settings: every layer's config type, exposed as typed CLI keys.

The config dataclasses are the schema: the top-level keys from ``AppConfig``, ``[server]`` from
``ServerConfig``, ``[engine]`` from ``MLXEngineConfig``. Their field types (constraints included)
validate every value and their ``metadata["help"]`` documents it, so the CLI, the config file and
``docs/configuration.md`` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import Literal

from pensieve_cli import Settings, SettingSpec, specs_of
from pensieve_cli.paths import cache_dir
from pensieve_mlx import MLXEngineConfig
from pensieve_server import ServerConfig

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "console", "json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """The top-level keys: what to serve and how to log."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "The model to serve: a name in the models directory, a directory, a .gguf "
            "file, a GGUF another application keeps (ollama:NAME[:TAG], lmstudio:PUBLISHER/REPO, "
            "hf:ORG/REPO; imported on first use) or a Hugging Face id (default: the embedded "
            "SmolLM2-135M-Instruct)."
        },
    )
    models_dir: str | None = field(
        default=None,
        metadata={
            "help": "The models directory (default: the checkout's models/ in development, else "
            "the user data directory)."
        },
    )
    log_level: LogLevel = field(default="info", metadata={"help": "Log level."})
    log_format: LogFormat = field(
        default="auto",
        metadata={"help": "Log format: console on a terminal, JSON lines otherwise."},
    )


@cache
def setting_specs() -> tuple[SettingSpec, ...]:
    """Every key, top-level first, then ``[server]`` and ``[engine]``."""
    return (
        *specs_of(AppConfig),
        *specs_of(ServerConfig, "server"),
        *specs_of(MLXEngineConfig, "engine"),
    )


def app_config(settings: Settings) -> AppConfig:
    """The top-level keys as the application's own config type."""
    return settings.section("", AppConfig)


def server_config(settings: Settings) -> ServerConfig:
    """The ``[server]`` section as the server's own config type."""
    return settings.section("server", ServerConfig)


def engine_config(settings: Settings) -> MLXEngineConfig:
    """The ``[engine]`` section as the engine's own config type.

    An empty ``prefix-cache-dir`` or ``weights-cache-dir`` means the user's cache directory here
    (to the engine alone it means nothing kept on disk).
    """
    config = settings.section("engine", MLXEngineConfig)
    if not config.prefix_cache_dir:
        config = replace(config, prefix_cache_dir=str(cache_dir() / "prefix-cache"))
    if not config.weights_cache_dir:
        config = replace(config, weights_cache_dir=str(cache_dir() / "weights"))
    return config
