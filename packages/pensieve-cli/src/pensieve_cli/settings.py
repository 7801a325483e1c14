"""Settings: typed keys, read from flags, ``PENSIEVE_*`` environment, a TOML file and defaults.

Precedence is flag > environment > file > default, and every resolved value remembers where it
came from. The keys are the fields of each layer's config dataclass, which the application hands
over (``pensieve_cli.schema.specs_of``), so the CLI checks them without importing those layers.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
import tomlkit

from pensieve_cli.schema import SettingSpec
from pensieve_core import ConfigError

Source = Literal["flag", "env", "file", "default"]
T = TypeVar("T")


class SettingsError(ConfigError):
    """One or more keys are bad; ``problems`` holds each one, so ``validate`` can list them all."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved value and its origin."""

    value: Any
    source: Source


class Settings:
    """Resolved settings for one command."""

    def __init__(
        self, specs: Sequence[SettingSpec], values: Mapping[str, Resolved], path: Path
    ) -> None:
        self.specs = {s.key: s for s in specs}
        self.values = dict(values)
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def section(self, name: str, schema: type[T]) -> T:
        """One section (``""``: the top-level keys) as its config dataclass."""
        prefix = f"{name}." if name else ""
        fields = {
            key[len(prefix) :].replace("-", "_"): resolved.value
            for key, resolved in self.values.items()
            if key.startswith(prefix) and "." not in key[len(prefix) :]
        }
        return msgspec.convert(fields, type=schema)


def read_file(path: Path, specs: Mapping[str, SettingSpec]) -> dict[str, Any]:
    """Flatten and validate a TOML config file; every unknown key or bad value is reported."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", source=str(path)) from e
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    checked: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for key, value in flat.items():
        if key not in specs:
            known = ", ".join(sorted(specs))
            problems.append(
                ConfigError(
                    f"{path}: unknown key {key!r} (known: {known})", key=key, source=str(path)
                )
            )
            continue
        try:
            checked[key] = specs[key].check(value, str(path))
        except ConfigError as e:
            problems.append(e)
    if problems:
        raise SettingsError(problems)
    return checked


def resolve(
    specs: Sequence[SettingSpec],
    path: Path,
    *,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every key by precedence: flag > environment > file > default.

    Raises:
        SettingsError: every bad value, from any source, at once.
    """
    by_key = {s.key: s for s in specs}
    environ = os.environ if environ is None else environ
    problems: list[ConfigError] = []
    try:
        from_file = read_file(path, by_key)
    except SettingsError as e:
        problems += e.problems
        from_file = {}
    values: dict[str, Resolved] = {}
    for spec in specs:
        try:
            if flags and flags.get(spec.key) is not None:
                values[spec.key] = Resolved(spec.check(flags[spec.key], "flag"), "flag")
            elif spec.env in environ:
                values[spec.key] = Resolved(spec.parse_text(environ[spec.env], spec.env), "env")
            elif spec.key in from_file:
                values[spec.key] = Resolved(from_file[spec.key], "file")
            else:
                values[spec.key] = Resolved(spec.default, "default")
        except ConfigError as e:
            problems.append(e)
    if problems:
        raise SettingsError(problems)
    return Settings(specs, values, path)


def toml_value(value: Any) -> str:
    """``value`` written as TOML (``true``, ``0.6``, ``"info"``, ``["a", "b"]``)."""
    return str(tomlkit.item(value).as_string())
