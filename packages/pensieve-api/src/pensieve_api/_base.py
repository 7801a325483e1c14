"""Shared base classes for wire structs."""

from __future__ import annotations

import msgspec


class WireIn(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A struct decoded from clients: unknown fields are tolerated (clients add new ones often)."""


class WireOut(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A struct encoded for clients."""
