"""Anthropic Messages API responses and server-sent events."""

from __future__ import annotations

from typing import Any, Literal

from pensieve_api._base import StreamEvent, WireOut

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
]


class Usage(WireOut):
    """Token usage. ``input_tokens`` excludes tokens read from the prompt cache."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class TextContent(WireOut, tag="text", tag_field="type"):
    """Generated text."""

    text: str


class ToolUseContent(WireOut, tag="tool_use", tag_field="type"):
    """A tool call."""

    id: str
    name: str
    input: dict[str, Any]


class ThinkingContent(WireOut, tag="thinking", tag_field="type"):
    """Generated reasoning."""

    thinking: str
    signature: str = ""


ResponseContent = TextContent | ToolUseContent | ThinkingContent

CacheMissType = Literal[
    "model_changed",
    "system_changed",
    "tools_changed",
    "messages_changed",
    "previous_message_not_found",
    "unavailable",
]


class CacheMissReason(WireOut):
    """Why the prompt cache did not reuse the previous request's prefix."""

    type: CacheMissType
    cache_missed_input_tokens: int | None = None
    """Tokens that would have been read from the cache had the prefix matched (not sent for
    ``previous_message_not_found`` and ``unavailable``)."""


class Diagnostics(WireOut):
    """Request-level diagnostics (sent when the request carried ``diagnostics``)."""

    cache_miss_reason: CacheMissReason | None = None


class MessageResponse(WireOut, tag="message", tag_field="type"):
    """A complete (or, in ``message_start``, an empty) assistant message."""

    id: str
    role: Literal["assistant"]
    model: str
    content: list[ResponseContent]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: Usage
    diagnostics: Diagnostics | None = None


# --- stream events ---------------------------------------------------------------------------


class TextDelta(WireOut, tag="text_delta", tag_field="type"):
    """More text."""

    text: str


class InputJSONDelta(WireOut, tag="input_json_delta", tag_field="type"):
    """More of a tool call's JSON arguments."""

    partial_json: str


class ThinkingDelta(WireOut, tag="thinking_delta", tag_field="type"):
    """More reasoning."""

    thinking: str


class SignatureDelta(WireOut, tag="signature_delta", tag_field="type"):
    """The signature of a thinking block, sent just before it stops."""

    signature: str


class MessageStartEvent(StreamEvent, tag="message_start"):
    """First event: the empty message with input usage."""

    message: MessageResponse


class ContentBlockStartEvent(StreamEvent, tag="content_block_start"):
    """A content block opens."""

    index: int
    content_block: ResponseContent


class ContentBlockDeltaEvent(StreamEvent, tag="content_block_delta"):
    """A content block grows."""

    index: int
    delta: TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta


class ContentBlockStopEvent(StreamEvent, tag="content_block_stop"):
    """A content block is complete."""

    index: int


class MessageDeltaBody(WireOut):
    """How the message ended."""

    stop_reason: StopReason | None
    stop_sequence: str | None


class MessageDeltaEvent(StreamEvent, tag="message_delta"):
    """Stop reason and the final usage."""

    delta: MessageDeltaBody
    usage: Usage


class MessageStopEvent(StreamEvent, tag="message_stop"):
    """Last event."""


class PingEvent(StreamEvent, tag="ping"):
    """Keep-alive."""


StreamEventType = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | PingEvent
)
"""Every event of a Messages stream but ``error`` (``pensieve_api.ErrorResponse``)."""


class CountTokensResponse(WireOut):
    """``POST /v1/messages/count_tokens``."""

    input_tokens: int


class ModelEntry(WireOut):
    """One model, in a shape both the Anthropic and the OpenAI SDKs accept."""

    id: str
    display_name: str
    created_at: str
    created: int
    type: str = "model"
    object: str = "model"
    owned_by: str = "pensieve"


class ModelList(WireOut):
    """``GET /v1/models``: the Anthropic page shape plus OpenAI's ``object: list``."""

    data: list[ModelEntry]
    has_more: bool
    first_id: str | None
    last_id: str | None
    object: str = "list"
