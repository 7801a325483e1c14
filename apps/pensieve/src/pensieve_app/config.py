"""The application's settings: every layer's config type, exposed as typed CLI keys.

Keys, types and defaults come from the dataclasses themselves (``[server]`` from
``ServerConfig``, ``[engine]`` from ``MLXEngineConfig``), and the help text from their attribute
docstrings, so the CLI, the config file and ``docs/configuration.md`` cannot drift apart.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import typing
from functools import cache
from typing import Any, Literal

from pensieve_cli import Settings, SettingSpec
from pensieve_mlx import MLXEngineConfig
from pensieve_server import ServerConfig

TOP_LEVEL = (
    SettingSpec(
        "model",
        "str",
        None,
        "The model to serve: a name in the models directory, a directory, a .gguf file or a Hugging Face id (default: the embedded SmolLM2-135M-Instruct).",
    ),
    SettingSpec(
        "models-dir",
        "str",
        None,
        "The models directory (default: the checkout's models/ in development, else the user data directory).",
    ),
    SettingSpec("log-level", "choice", "info", "Log level.", ("debug", "info", "warning", "error")),
    SettingSpec(
        "log-format",
        "choice",
        "auto",
        "Log format: console on a terminal, JSON lines otherwise.",
        ("auto", "console", "json"),
    ),
)


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` from the string literal under each field of ``cls``."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        is_field = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if (
            is_field
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs


def _spec(section: str, field: dataclasses.Field[Any], hint: Any, doc: str) -> SettingSpec:
    key = f"{section}.{field.name.replace('_', '-')}"
    default = field.default
    origin = typing.get_origin(hint)
    if origin is Literal:
        return SettingSpec(key, "choice", default, doc, tuple(typing.get_args(hint)))
    if origin is tuple:
        return SettingSpec(key, "list", list(default), doc)  # type: ignore[arg-type]
    kind = {bool: "bool", int: "int", float: "float", str: "str"}[hint]
    return SettingSpec(key, kind, default, doc)  # type: ignore[arg-type]


def _section_specs(section: str, cls: type) -> list[SettingSpec]:
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls)
    return [_spec(section, f, hints[f.name], docs.get(f.name, "")) for f in dataclasses.fields(cls)]


@cache
def setting_specs() -> tuple[SettingSpec, ...]:
    """Every key, top-level first, then ``[server]`` and ``[engine]``."""
    return (
        *TOP_LEVEL,
        *_section_specs("server", ServerConfig),
        *_section_specs("engine", MLXEngineConfig),
    )


def server_config(settings: Settings) -> ServerConfig:
    """The ``[server]`` section as the server's own config type."""
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in settings.section("server").items()
    }
    return ServerConfig(**values)


def engine_config(settings: Settings) -> MLXEngineConfig:
    """The ``[engine]`` section as the engine's own config type."""
    return MLXEngineConfig(**settings.section("engine"))
