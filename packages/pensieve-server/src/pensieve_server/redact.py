"""A request body's shape without its text: what the console shows of a recent request.

Keys, roles, block types, tool names and numbers are kept; every other string becomes its length,
so the shape says how a request was built (and why its cache missed) without keeping a prompt.
"""

from __future__ import annotations

from typing import Any

import msgspec

_KEPT = frozenset({"type", "role", "name", "tool_name", "model", "id", "tool_use_id", "media_type"})
"""Keys whose strings are structure, not content (``name``: tool names)."""
_OPAQUE = frozenset(
    {"input", "input_schema", "parameters", "arguments", "schema", "metadata", "json_schema"}
)
"""Keys holding a client's own data (tool arguments, schemas): below them nothing is kept but keys
and types, since a ``name`` or a number there is the user's."""
MAX_DEPTH = 48
"""Deeper values are shown as ``<nested>``: a body may nest hundreds of levels (tool schemas the
engine refuses with a 400), and the shape must never be what fails the request."""


def request_shape(body: msgspec.Struct) -> dict[str, Any]:
    """The redacted shape of a decoded request body (fields left unset are dropped)."""
    shape = _redact(msgspec.to_builtins(body), key="", kept=True, depth=0)
    assert isinstance(shape, dict)
    return shape


def _redact(value: Any, *, key: str, kept: bool, depth: int) -> Any:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return "<nested>"
    if isinstance(value, dict):
        return {
            k: _redact(v, key=k, kept=kept and k not in _OPAQUE, depth=depth + 1)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_redact(v, key=key, kept=kept, depth=depth + 1) for v in value]
    if isinstance(value, str):
        return value if kept and key in _KEPT else f"<{len(value)} chars>"
    if kept or value is None:
        return value
    return f"<{type(value).__name__}>"
