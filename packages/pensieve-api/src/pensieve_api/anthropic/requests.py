"""Anthropic Messages API requests (``POST /v1/messages``, ``/v1/messages/count_tokens``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from pensieve_api._base import WireIn

# --- content blocks -----------------------------------------------------------------------


class Base64Source(WireIn, tag="base64", tag_field="type"):
    """Inline base64 data."""

    media_type: str
    data: str


class URLSource(WireIn, tag="url", tag_field="type"):
    """Data behind a URL."""

    url: str


class TextSource(WireIn, tag="text", tag_field="type"):
    """Plain-text document data."""

    data: str
    media_type: str = "text/plain"


class TextBlock(WireIn, tag="text", tag_field="type"):
    """Text; ``cache_control`` and ``citations`` are accepted and ignored."""

    text: str


class ContentSource(WireIn, tag="content", tag_field="type"):
    """A document given as content blocks."""

    content: str | list[TextBlock]


class ImageBlock(WireIn, tag="image", tag_field="type"):
    """An image."""

    source: Base64Source | URLSource


class DocumentBlock(WireIn, tag="document", tag_field="type"):
    """A document; text sources are supported."""

    source: TextSource | ContentSource | Base64Source | URLSource
    title: str | None = None
    context: str | None = None


class ToolUseBlock(WireIn, tag="tool_use", tag_field="type"):
    """A tool call from an earlier assistant turn."""

    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(WireIn, tag="tool_result", tag_field="type"):
    """The result of a tool call."""

    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock] | None = None
    is_error: bool = False


class ThinkingBlock(WireIn, tag="thinking", tag_field="type"):
    """Reasoning from an earlier assistant turn, returned verbatim."""

    thinking: str
    signature: str = ""


class RedactedThinkingBlock(WireIn, tag="redacted_thinking", tag_field="type"):
    """Encrypted reasoning from an earlier turn."""

    data: str


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)


class Message(WireIn):
    """One turn. ``system`` turns (sent by recent Claude Code) are folded into the system prompt."""

    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


# --- tools, tool choice, thinking -----------------------------------------------------------


class Tool(WireIn):
    """A client tool. ``defer_loading``, ``cache_control`` and the like are ignored."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    description: str = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object"})
    type: str | None = None


class ToolChoiceAuto(WireIn, tag="auto", tag_field="type"):
    """The model decides."""

    disable_parallel_tool_use: bool = False


class ToolChoiceAny(WireIn, tag="any", tag_field="type"):
    """The model must call some tool."""

    disable_parallel_tool_use: bool = False


class ToolChoiceTool(WireIn, tag="tool", tag_field="type"):
    """The model must call ``name``."""

    name: str
    disable_parallel_tool_use: bool = False


class ToolChoiceNone(WireIn, tag="none", tag_field="type"):
    """The model must not call tools."""


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class ThinkingEnabled(WireIn, tag="enabled", tag_field="type"):
    """Ask for reasoning."""

    budget_tokens: int = 0


class ThinkingDisabled(WireIn, tag="disabled", tag_field="type"):
    """No reasoning."""


class ThinkingAdaptive(WireIn, tag="adaptive", tag_field="type"):
    """The model decides (Claude Code's default)."""

    display: str | None = None


ThinkingConfig = ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive

# --- requests --------------------------------------------------------------------------------

System = str | list[TextBlock]


class MessagesRequest(WireIn):
    """``POST /v1/messages``.

    Unknown top-level fields (``context_management``, ``output_config``, ``safeguards``...) are
    tolerated and ignored.
    """

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)]
    system: System | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0)] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    metadata: dict[str, Any] | None = None


class CountTokensRequest(WireIn):
    """``POST /v1/messages/count_tokens``."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    system: System | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
