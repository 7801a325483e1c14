"""Domain events -> Anthropic responses: the complete message, or the SSE event sequence."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pensieve_api import ErrorDetail, ErrorResponse, encoder
from pensieve_api.anthropic import responses as wire
from pensieve_core import (
    Finished,
    FinishReason,
    GenerationEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from pensieve_server.anthropic.signatures import ThinkingSigner
from pensieve_server.errors import ErrorKind

STOP_REASONS: dict[FinishReason, wire.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "context_window": "model_context_window_exceeded",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "cancelled": "end_turn",
}


def error_body(kind: ErrorKind, message: str) -> ErrorResponse:
    """Anthropic's error shape (also the stream's ``error`` event)."""
    return ErrorResponse(error=ErrorDetail(type=kind, message=message))


def message_id() -> str:
    """An Anthropic-style message id."""
    return f"msg_{secrets.token_hex(12)}"


def tool_use_id() -> str:
    """An Anthropic-style tool-use id."""
    return f"toolu_{secrets.token_hex(12)}"


def wire_usage(usage: Usage, *, writes: bool = True) -> wire.Usage:
    """Anthropic counts cache reads and cache writes apart from ``input_tokens``.

    ``writes``: the request asked for caching, so the tokens it added to the cache are reported
    as ``cache_creation_input_tokens`` (else they stay in ``input_tokens``).
    """
    written = usage.cache_write_tokens if writes else 0
    return wire.Usage(
        input_tokens=usage.prompt_tokens - usage.cached_tokens - written,
        output_tokens=usage.completion_tokens,
        cache_read_input_tokens=usage.cached_tokens,
        cache_creation_input_tokens=written,
    )


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (``{}`` when empty or not an object)."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class MessageBuilder:
    """Collects events into a complete ``MessageResponse`` (non-streaming)."""

    model: str
    signer: ThinkingSigner
    writes: bool = True
    """Report cache writes (the request asked for caching)."""
    id: str = field(default_factory=message_id)
    diagnose: Callable[[], wire.Diagnostics | None] = lambda: None
    """The response's ``diagnostics``, asked once the cache hit is known."""
    content: list[wire.ResponseContent] = field(default_factory=list)
    _args: dict[int, list[str]] = field(default_factory=dict)
    _calls: dict[int, wire.ToolUseContent] = field(default_factory=dict)

    def add(self, event: GenerationEvent) -> None:
        """Fold one event in."""
        last = self.content[-1] if self.content else None
        if isinstance(event, TextDelta):
            if isinstance(last, wire.TextContent):
                last.text += event.text
            else:
                self.content.append(wire.TextContent(text=event.text))
        elif isinstance(event, ThinkingDelta):
            if isinstance(last, wire.ThinkingContent):
                last.thinking += event.text
            else:
                self.content.append(wire.ThinkingContent(thinking=event.text, signature=""))
        elif isinstance(event, ToolCallStart):
            call = wire.ToolUseContent(id=tool_use_id(), name=event.name, input={})
            self._calls[event.index] = call
            self._args[event.index] = []
            self.content.append(call)
        elif isinstance(event, ToolCallDelta):
            self._args[event.index].append(event.arguments)
        elif isinstance(event, ToolCallEnd):
            self._calls[event.index].input = parse_arguments("".join(self._args[event.index]))

    def build(self, finished: Finished) -> wire.MessageResponse:
        """The complete message."""
        for block in self.content:
            if isinstance(block, wire.ThinkingContent):
                block.signature = self.signer.sign(block.thinking)
        return wire.MessageResponse(
            id=self.id,
            role="assistant",
            model=self.model,
            content=self.content,
            stop_reason=STOP_REASONS[finished.reason],
            stop_sequence=finished.stop_sequence,
            usage=wire_usage(finished.usage, writes=self.writes),
            diagnostics=self.diagnose(),
        )


WireEvent = wire.StreamEventType


def frame(event: wire.StreamEventType | ErrorResponse) -> bytes:
    """``event: NAME`` + ``data: JSON`` + blank line."""
    return b"event: " + event.event_name.encode() + b"\ndata: " + encoder.encode(event) + b"\n\n"


@dataclass(slots=True)
class StreamEncoder:
    """Turns domain events into Anthropic's SSE events with sequential block indices."""

    model: str
    prompt_usage: Callable[[], Usage]
    """The prompt's tokens, cached and written, once the engine has admitted the request."""
    signer: ThinkingSigner
    writes: bool = True
    """Report cache writes (the request asked for caching)."""
    id: str = field(default_factory=message_id)
    diagnose: Callable[[], wire.Diagnostics | None] = lambda: None
    """The response's ``diagnostics``, asked once the cache hit is known."""
    _started: bool = False
    _index: int = -1
    _thinking: list[str] = field(default_factory=list)
    """The open thinking block's text, signed when it closes."""
    _open: str | None = None
    """Kind of the open block: ``text``, ``thinking`` or ``tool_use``."""

    def start(self) -> list[WireEvent]:
        """``message_start`` then a ``ping``, as Anthropic sends them."""
        self._started = True
        message = wire.MessageResponse(
            id=self.id,
            role="assistant",
            model=self.model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=wire_usage(self.prompt_usage(), writes=self.writes),
            diagnostics=self.diagnose(),
        )
        return [wire.MessageStartEvent(message=message), wire.PingEvent()]

    def feed(self, event: GenerationEvent) -> list[WireEvent]:
        """Events for one domain event (``message_start`` before the first)."""
        if not self._started:
            return [*self.start(), *self.feed(event)]
        if isinstance(event, TextDelta):
            return [*self._ensure("text"), self._delta(wire.TextDelta(text=event.text))]
        if isinstance(event, ThinkingDelta):
            opened = self._ensure("thinking")
            self._thinking.append(event.text)
            return [*opened, self._delta(wire.ThinkingDelta(thinking=event.text))]
        if isinstance(event, ToolCallStart):
            out = self._close()
            self._index += 1
            self._open = "tool_use"
            block = wire.ToolUseContent(id=tool_use_id(), name=event.name, input={})
            return [*out, wire.ContentBlockStartEvent(index=self._index, content_block=block)]
        if isinstance(event, ToolCallDelta):
            return [self._delta(wire.InputJSONDelta(partial_json=event.arguments))]
        if isinstance(event, ToolCallEnd):
            return self._close()
        if isinstance(event, Finished):
            return self._finish(event)
        return []

    # The ``StreamCodec`` of ``pensieve_server.streaming``:

    def opening(self) -> list[bytes]:
        """Nothing yet: ``message_start`` waits for the first event.

        By then the engine has admitted the request and knows its cache hit, so the usage
        ``message_start`` reports is the final one. A request still queued when the first ping
        is due gets its ``message_start`` then (Anthropic's streams start with it).
        """
        return []

    def encode(self, event: GenerationEvent) -> list[bytes]:
        """The frames of one event."""
        return [frame(e) for e in self.feed(event)]

    def closing(self) -> list[bytes]:
        """Nothing follows ``message_stop``."""
        return []

    def ping(self) -> bytes:
        """A ``ping`` event (``message_start`` first, if it has not been sent)."""
        if not self._started:
            return b"".join(frame(e) for e in self.start())
        return frame(wire.PingEvent())

    def waiting(self) -> bytes:
        """A bare ``ping`` event, before ``message_start`` (whose usage is not known yet).

        The SDKs drop ``ping`` events before anything else looks at them (Claude Code's
        included), so a stream may begin with them.
        """
        return frame(wire.PingEvent())

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """An ``error`` event."""
        return frame(error_body(kind, message))

    def _ensure(self, kind: str) -> list[WireEvent]:
        if self._open == kind:
            return []
        out = self._close()
        self._index += 1
        self._open = kind
        block: wire.ResponseContent = (
            wire.TextContent(text="")
            if kind == "text"
            else wire.ThinkingContent(thinking="", signature="")
        )
        return [*out, wire.ContentBlockStartEvent(index=self._index, content_block=block)]

    def _delta(
        self, delta: wire.TextDelta | wire.InputJSONDelta | wire.ThinkingDelta | wire.SignatureDelta
    ) -> WireEvent:
        return wire.ContentBlockDeltaEvent(index=self._index, delta=delta)

    def _close(self) -> list[WireEvent]:
        if self._open is None:
            return []
        out: list[WireEvent] = []
        if self._open == "thinking":
            signature = self.signer.sign("".join(self._thinking))
            self._thinking.clear()
            out.append(self._delta(wire.SignatureDelta(signature=signature)))
        out.append(wire.ContentBlockStopEvent(index=self._index))
        self._open = None
        return out

    def _finish(self, finished: Finished) -> list[WireEvent]:
        body = wire.MessageDeltaBody(
            stop_reason=STOP_REASONS[finished.reason], stop_sequence=finished.stop_sequence
        )
        return [
            *self._close(),
            wire.MessageDeltaEvent(
                delta=body, usage=wire_usage(finished.usage, writes=self.writes)
            ),
            wire.MessageStopEvent(),
        ]
