"""Settings: typed keys, read from flags, ``PENSIEVE_*`` environment, a TOML file and defaults.

Precedence is flag > environment > file > default, and every resolved value remembers where it
came from. The keys themselves are declared by the application (from each layer's config type),
so the CLI validates them without importing those layers.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomlkit

from pensieve_core import ConfigError

ValueType = Literal["str", "int", "float", "bool", "list", "choice"]
Source = Literal["flag", "env", "file", "default"]


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One configuration key."""

    key: str
    """``section.name`` (kebab-case), or a top-level ``name``."""
    type: ValueType
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        """``PENSIEVE_SECTION_NAME``."""
        return "PENSIEVE_" + self.key.replace(".", "_").replace("-", "_").upper()

    def parse_text(self, raw: str, where: str) -> Any:
        """A value written as text (environment, ``config set``, ``--set``)."""
        if self.type == "list":
            # Empty items are kept so that check() refuses them: `--api-key ""` is a mistake.
            return self.check([item.strip() for item in raw.split(",")], where)
        if self.type == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise self._error(f"expected true or false, got {raw!r}", where)
        if self.type in ("int", "float"):
            try:
                return self.check(int(raw) if self.type == "int" else float(raw), where)
            except ValueError:
                raise self._error(f"expected {EXPECTED[self.type]}, got {raw!r}", where) from None
        return self.check(raw, where)

    def check(self, value: Any, where: str) -> Any:
        """Validate a typed value (from TOML or parsed text)."""
        ok = {
            "str": isinstance(value, str),
            "choice": isinstance(value, str) and value in self.choices,
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[self.type]
        if not ok:
            expected = (
                f"one of {', '.join(self.choices)}"
                if self.type == "choice"
                else EXPECTED[self.type]
            )
            raise self._error(f"expected {expected}, got {value!r}", where)
        if self.type == "list" and any(not item.strip() for item in value):
            raise self._error(f"empty or blank entries are not allowed, got {value!r}", where)
        if self.key.endswith("port") and not 1 <= value <= 65535:
            raise self._error(f"{value} is not a port (1-65535)", where)
        if self.type in ("int", "float") and value < 0:
            raise self._error(f"must not be negative, got {value}", where)
        return float(value) if self.type == "float" else value

    def _error(self, problem: str, where: str) -> ConfigError:
        return ConfigError(f"{self.key}: {problem} ({where})", key=self.key, source=where)


EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list of strings",
}


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

    def section(self, name: str) -> dict[str, Any]:
        """``{field_name: value}`` of one section, ready for a config constructor."""
        prefix = f"{name}."
        return {
            k[len(prefix) :].replace("-", "_"): r.value
            for k, r in self.values.items()
            if k.startswith(prefix)
        }


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
