"""Shared base classes for wire structs."""

from __future__ import annotations

import msgspec


class WireIn(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A struct decoded from clients: unknown fields are tolerated (clients add new ones often)."""


class WireOut(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A struct encoded for clients."""


class StreamEvent(WireOut, tag_field="type"):
    """A server-sent event whose ``type`` tag is also its SSE ``event:`` name."""

    @property
    def event_name(self) -> str:
        """The SSE event name (the struct's tag)."""
        tag = self.__struct_config__.tag
        assert isinstance(tag, str), "stream events are tagged with their name"
        return tag
