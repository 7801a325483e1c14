"""Config dataclasses as CLI keys: each field is one key, decoded and validated by msgspec.

A field's type is its schema (constraints as ``Annotated[..., msgspec.Meta(...)]``) and its
``metadata["help"]`` its documentation. Errors name the key and where the value came from.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from pensieve_core import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

NOUNS: dict[Any, tuple[str, str]] = {
    str: ("a string", "strings"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("true or false", "booleans"),
}
"""How an expected type is named in an error, alone and as list items."""
BOOL_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}
"""msgspec reads true/false/1/0 as text; the environment's yes/no/on/off mean the same."""


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One configuration key: a field of a config dataclass."""

    key: str
    """``section.name`` (kebab-case), or a top-level ``name``."""
    type: Any
    """The field's type, constraints included (``Annotated[int, msgspec.Meta(ge=1)]``)."""
    plain: Any
    """The same type without its constraints: a value that fits it but not ``type`` breaks one."""
    default: Any
    help: str = ""

    @property
    def env(self) -> str:
        """``PENSIEVE_SECTION_NAME``."""
        return "PENSIEVE_" + self.key.replace(".", "_").replace("-", "_").upper()

    @property
    def choices(self) -> tuple[str, ...]:
        """The values a ``Literal`` type allows, else ``()``."""
        return typing.get_args(self.plain) if typing.get_origin(self.plain) is Literal else ()

    @property
    def type_name(self) -> str:
        """``str``, ``int``, ``float``, ``bool``, ``list`` or ``choice``, for the reference."""
        hint = _required(self.plain)
        origin = typing.get_origin(hint)
        if origin is Literal:
            return "choice"
        return "list" if origin is tuple else str(hint.__name__)

    def parse_text(self, raw: str, where: str) -> Any:
        """A value written as text (environment, ``config set``, ``--set``)."""
        return self.check(_from_text(raw, self.plain), where, strict=False)

    def check(self, value: Any, where: str, *, strict: bool = True) -> Any:
        """``value`` as the field's type (``strict``: no text conversions), or a ``ConfigError``."""
        try:
            return msgspec.convert(value, type=self.type, strict=strict)
        except msgspec.ValidationError:
            pass
        try:
            plain = msgspec.convert(value, type=self.plain, strict=strict)
        except msgspec.ValidationError:
            problem = f"expected {_expected(self.plain)}, got {value!r}"
        else:
            problem = _refusal(plain, self.type)
        raise ConfigError(f"{self.key}: {problem} ({where})", key=self.key, source=where)


def specs_of(schema: type[DataclassInstance], section: str = "") -> tuple[SettingSpec, ...]:
    """One key per field of a config dataclass, under ``section`` (``""``: top level).

    The help text is the field's ``metadata["help"]``.
    """
    typed = typing.get_type_hints(schema, include_extras=True)
    plain = typing.get_type_hints(schema)
    prefix = f"{section}." if section else ""
    return tuple(
        SettingSpec(
            key=prefix + f.name.replace("_", "-"),
            type=typed[f.name],
            plain=plain[f.name],
            default=_default_of(f),
            help=f.metadata.get("help", ""),
        )
        for f in dataclasses.fields(schema)
    )


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _required(hint: Any) -> Any:
    """``X`` of ``X | None``; any other type as it is."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not types.NoneType)
    return hint


def _from_text(raw: str, plain: Any) -> Any:
    """Text shaped for msgspec's lax conversion (which turns ``"8001"`` into ``8001``)."""
    hint = _required(plain)
    if typing.get_origin(hint) is tuple:
        # Empty items are kept so that the type refuses them: `--api-key ""` is a mistake.
        return [item.strip() for item in raw.split(",")]
    if hint is bool:
        return BOOL_WORDS.get(raw.strip().lower(), raw.strip())
    return raw.strip() if hint in (int, float) else raw


def _expected(plain: Any) -> str:
    """The type, in words (``an integer``, ``one of auto, console, json``)."""
    hint = _required(plain)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return f"a list of {NOUNS[item][1] if item in NOUNS else item}"
    return NOUNS[hint][0] if hint in NOUNS else str(hint)


def _fits(value: Any, hint: Any) -> bool:
    try:
        msgspec.convert(value, type=hint)
    except msgspec.ValidationError:
        return False
    return True


def _refusal(value: Any, hint: Any) -> str:
    """Why ``value``, of the right shape, breaks a ``msgspec.Meta`` constraint of ``hint``."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        inner, *extras = typing.get_args(hint)
        meta = next((m for m in extras if isinstance(m, msgspec.Meta)), None)
        if meta is None or not _fits(value, inner):
            return _refusal(value, inner)
        return _broken(value, meta)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        for item in value:
            if _fits(item, item_type):
                continue
            if isinstance(item, str) and not item.strip():
                return f"empty or blank entries are not allowed, got {list(value)!r}"
            return f"entry {item!r}: {_refusal(item, item_type)}"
    if origin in (typing.Union, types.UnionType):
        return _refusal(value, _required(hint))
    return f"{value!r} is not allowed"


def _broken(value: Any, meta: msgspec.Meta) -> str:
    """The constraint ``value`` breaks, in words (``70000 is not a port (1-65535)``)."""
    low, high = meta.ge, meta.le
    if low is not None and high is not None:
        return f"{value} is not {meta.description or 'in the range'} ({low}-{high})"
    if low == 0:
        return f"must not be negative, got {value}"
    if low is not None:
        return f"must be at least {low}, got {value}"
    if high is not None:
        return f"must be at most {high}, got {value}"
    return f"{value!r} breaks {meta!r}"
