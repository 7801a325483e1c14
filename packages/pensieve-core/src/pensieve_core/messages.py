"""Chat domain types: messages, their content parts, tools and tool choice.

These are what the server builds from any wire dialect and what engines render into prompts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Role: TypeAlias = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class TextPart:
    """Plain text."""

    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image; engines without vision refuse it."""

    media_type: str
    """MIME type, e.g. ``image/png``."""
    data: str
    """Base64 data, or a URL when ``is_url`` is set."""
    is_url: bool = False


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """Reasoning text from an earlier assistant turn, sent back verbatim by clients.

    Servers hand engines only reasoning they can vouch for (this server's own, by signature):
    engines render it where the chat template replays reasoning.
    """

    text: str
    signature: str = ""
    redacted: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A tool call made by the assistant."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of a tool call, sent by the client in a user turn."""

    tool_call_id: str
    content: str
    is_error: bool = False


ContentPart: TypeAlias = TextPart | ImagePart | ThinkingPart | ToolCallPart | ToolResultPart


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. System text lives on the request, not in messages."""

    role: Role
    parts: tuple[ContentPart, ...]

    @property
    def text(self) -> str:
        """The concatenated text parts."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def hands_back_tool_results(self) -> bool:
        """Whether this turn carries tool results (the model answers them next)."""
        return any(isinstance(p, ToolResultPart) for p in self.parts)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    """JSON schema of the call's arguments."""
    deferred: bool = False
    """Loaded on demand (Anthropic's ``defer_loading``): left out of the tool list the prompt
    starts with, and described where a tool result loads it, so that prefix never changes."""


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """How the model may use tools.

    ``auto``: the model decides; ``any``: it must call some tool; ``tool``: it must call ``name``;
    ``none``: it must not call tools.
    """

    mode: Literal["auto", "any", "tool", "none"] = "auto"
    name: str | None = None
    parallel: bool = True
    """More than one call per answer; ``False``: the answer ends after its first call."""

    def __post_init__(self) -> None:
        assert (self.mode == "tool") == (self.name is not None), "a name goes with mode 'tool' only"
