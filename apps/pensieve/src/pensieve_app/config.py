"""The application's settings: every layer's config type, exposed as typed CLI keys.

The config dataclasses are the schema: the top-level keys from ``AppConfig``, ``[server]`` from
``ServerConfig``, ``[engine]`` from ``MLXEngineConfig``. Their field types (constraints included)
validate every value and their ``metadata["help"]`` documents it, so the CLI, the config file and
``docs/configuration.md`` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

from pensieve_cli import Settings, SettingSpec, specs_of
from pensieve_cli.paths import cache_dir
from pensieve_core import ConfigError
from pensieve_mlx import MLXEngineConfig
from pensieve_server import ServerConfig

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "console", "json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelEntry:
    """One more served model: a ``[[models]]`` table, or a repeated ``--model NAME=REF``."""

    model: str
    """What ``model`` takes: a name, directory, .gguf, store GGUF or Hugging Face id."""
    name: str = ""
    """The name it is served under (default: its own)."""
    fast: bool = False
    """The fast model, which the ``fast`` routes (Claude Code's haiku tier) reach. A model
    named ``fast`` is the fast one too."""
    aliases: tuple[str, ...] = ()
    engine: dict[str, Any] = field(default_factory=dict)
    """``[engine]`` keys for this model only (``max-context-tokens``, ``max-active-sequences``,
    ``prefix-cache-bytes``...)."""

    @property
    def is_fast(self) -> bool:
        """Marked fast, or named ``fast``."""
        return self.fast or self.name == "fast"

    @classmethod
    def of(cls, item: ModelEntry | str) -> ModelEntry:
        """An entry, or ``[NAME=]REF`` written as text."""
        if isinstance(item, ModelEntry):
            return item
        name, sep, ref = item.partition("=")
        return cls(model=ref, name=name) if sep and "/" not in name else cls(model=item)


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
    model_name: str = field(
        default="",
        metadata={
            "help": "The name the default model is served under (default: its own); "
            "``--model main=REF`` sets it."
        },
    )
    models: tuple[ModelEntry | str, ...] = field(
        default=(),
        metadata={
            "help": "More models served beside ``model``: ``[[models]]`` tables with ``model`` "
            "(a reference as ``model`` takes), ``name``, ``fast`` (the model Claude Code's haiku "
            "tier goes to; a model named ``fast`` is fast too), ``aliases`` and ``engine`` (an "
            "inline table of ``[engine]`` keys for this model only). On the command line, "
            "``--model`` again: ``--model main=./qwen-7b --model fast=smollm2`` (``NAME=REF`` "
            "strings are entries too, as in ``PENSIEVE_MODELS``). Each has its own engine; "
            "requests pick one by name (``server.model-routes``)."
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


def served_entries(top: AppConfig) -> list[ModelEntry]:
    """Every model to serve, the default first (the embedded model when none is named)."""
    first = ModelEntry(model=top.model or "", name=top.model_name)
    return [first, *(ModelEntry.of(item) for item in top.models)]


def engine_config_for(base: MLXEngineConfig, entry: ModelEntry, where: str) -> MLXEngineConfig:
    """``base`` with ``entry``'s own ``[engine]`` keys, each checked as the section's are."""
    specs = {s.key: s for s in setting_specs()}
    changes: dict[str, Any] = {}
    for key, value in entry.engine.items():
        spec = specs.get(f"engine.{key}")
        if spec is None:
            raise ConfigError(f"{where}: unknown engine key {key!r}", key=key, source=where)
        changes[key.replace("-", "_")] = spec.check(value, where)
    return replace(base, **changes)


def app_config(settings: Settings) -> AppConfig:
    """The top-level keys as the application's own config type."""
    return settings.section("", AppConfig)


def server_config(settings: Settings) -> ServerConfig:
    """The ``[server]`` section as the server's own config type."""
    return settings.section("server", ServerConfig)


def engine_config(settings: Settings) -> MLXEngineConfig:
    """The ``[engine]`` section as the engine's own config type.

    An empty ``prefix-cache-dir``, ``weights-cache-dir`` or ``tokenizer-cache-dir`` means the
    user's cache directory here (to the engine alone it means nothing kept on disk).
    """
    config = settings.section("engine", MLXEngineConfig)
    if not config.prefix_cache_dir:
        config = replace(config, prefix_cache_dir=str(cache_dir() / "prefix-cache"))
    if not config.weights_cache_dir:
        config = replace(config, weights_cache_dir=str(cache_dir() / "weights"))
    if not config.tokenizer_cache_dir:
        config = replace(config, tokenizer_cache_dir=str(cache_dir() / "tokenizers"))
    return config
