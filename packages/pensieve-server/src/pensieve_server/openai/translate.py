"""OpenAI chat wire <-> domain."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from pensieve_api import OpenAIErrorDetail, OpenAIErrorResponse, encoder
from pensieve_api.openai import chat as wire
from pensieve_core import (
    ContentPart,
    Finished,
    GenerationEvent,
    GenerationRequest,
    ImagePart,
    Message,
    SamplingParams,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)
from pensieve_server.errors import ErrorKind
from pensieve_server.state import RequestDefaults

FINISH = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "context_window": "length",
    "tool_use": "tool_calls",
    "cancelled": "stop",
}


def completion_id() -> str:
    """An OpenAI-style completion id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


def _content_parts(content: str | list[wire.TextPart | wire.ImagePart] | None) -> list[ContentPart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    return [
        TextPart(p.text)
        if isinstance(p, wire.TextPart)
        else ImagePart("", p.image_url.url, is_url=True)
        for p in content
    ]


def _text(content: str | list[wire.TextPart | wire.ImagePart] | None) -> str:
    return "".join(p.text for p in _content_parts(content) if isinstance(p, TextPart))


def _arguments(raw: str) -> dict[str, object]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_choice(choice: str | wire.NamedToolChoice | None, *, parallel: bool) -> ToolChoice:
    if isinstance(choice, wire.NamedToolChoice):
        return ToolChoice("tool", choice.function.name, parallel=parallel)
    if choice == "none":
        return ToolChoice("none")
    return ToolChoice("any" if choice == "required" else "auto", parallel=parallel)


def _response_schema(response_format: wire.ResponseFormat | None) -> dict[str, object] | None:
    if isinstance(response_format, wire.ResponseFormatJSONSchema):
        return response_format.json_schema.schema or {"type": "object"}
    if isinstance(response_format, wire.ResponseFormatJSONObject):
        return {"type": "object"}
    return None


def to_domain(
    request: wire.ChatCompletionRequest,
    defaults: RequestDefaults,
) -> GenerationRequest:
    """Translate a chat completion request."""
    system: list[str] = []
    messages: list[Message] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            system.append(_text(m.content))
        elif m.role == "tool":
            messages.append(
                Message("user", (ToolResultPart(m.tool_call_id or "", _text(m.content)),))
            )
        else:
            parts = _content_parts(m.content)
            for call in m.tool_calls or []:
                parts.append(
                    ToolCallPart(call.id, call.function.name, _arguments(call.function.arguments))
                )
            messages.append(Message("assistant" if m.role == "assistant" else "user", tuple(parts)))
    stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
    max_tokens = request.max_completion_tokens or request.max_tokens or defaults.openai_max_tokens
    return GenerationRequest(
        messages=tuple(messages),
        system="\n\n".join(s for s in system if s),
        tools=tuple(
            ToolSpec(t.function.name, t.function.description, t.function.parameters)
            for t in request.tools or []
        ),
        tool_choice=_tool_choice(
            request.tool_choice, parallel=request.parallel_tool_calls is not False
        ),
        sampling=SamplingParams(
            max_tokens=max_tokens,
            temperature=(
                defaults.temperature if request.temperature is None else request.temperature
            ),
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=request.top_k or 0,
            stop=stop,
            seed=request.seed,
        ),
        response_schema=_response_schema(request.response_format),
    )


def usage(finished: Finished) -> wire.CompletionUsage:
    """OpenAI usage; ``prompt_tokens`` includes cached tokens."""
    u = finished.usage
    return wire.CompletionUsage(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens,
        prompt_tokens_details=wire.PromptTokensDetails(cached_tokens=u.cached_tokens),
    )


@dataclass(slots=True)
class ChatAssembler:
    """Collects events into a ``ChatCompletion`` or into chunks."""

    model: str
    id: str = field(default_factory=completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    text: list[str] = field(default_factory=list)
    calls: dict[int, wire.OutToolCall] = field(default_factory=dict)

    def add(self, event: GenerationEvent) -> None:
        """Fold one event in (non-streaming)."""
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCallStart):
            self.calls[event.index] = wire.OutToolCall(
                id=f"call_{secrets.token_hex(12)}",
                function=wire.OutFunction(name=event.name, arguments=""),
            )
        elif isinstance(event, ToolCallDelta):
            self.calls[event.index].function.arguments += event.arguments

    def completion(self, finished: Finished) -> wire.ChatCompletion:
        """The complete response."""
        calls = list(self.calls.values()) or None
        message = wire.OutMessage(
            content="".join(self.text) if self.text or not calls else None, tool_calls=calls
        )
        choice = wire.Choice(index=0, message=message, finish_reason=FINISH[finished.reason])
        return wire.ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[choice],
            usage=usage(finished),
        )

    def chunk(
        self, delta: wire.Delta, finish_reason: str | None = None
    ) -> wire.ChatCompletionChunk:
        """One chunk."""
        choice = wire.ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)
        return wire.ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=[choice]
        )

    def chunk_for(self, event: GenerationEvent) -> wire.ChatCompletionChunk | None:
        """The chunk for one event, if it adds anything."""
        if isinstance(event, TextDelta):
            return self.chunk(wire.Delta(content=event.text))
        if isinstance(event, ToolCallStart):
            call = wire.DeltaToolCall(
                index=event.index,
                id=f"call_{secrets.token_hex(12)}",
                type="function",
                function=wire.DeltaFunction(name=event.name, arguments=""),
            )
            return self.chunk(wire.Delta(tool_calls=[call]))
        if isinstance(event, ToolCallDelta):
            call = wire.DeltaToolCall(
                index=event.index, function=wire.DeltaFunction(arguments=event.arguments)
            )
            return self.chunk(wire.Delta(tool_calls=[call]))
        return None


def data_frame(payload: object) -> bytes:
    """An unnamed ``data:`` frame, as OpenAI streams them."""
    return b"data: " + encoder.encode(payload) + b"\n\n"


def error_body(kind: ErrorKind, message: str) -> OpenAIErrorResponse:
    """OpenAI's error shape (also the stream's in-band error)."""
    return OpenAIErrorResponse(error=OpenAIErrorDetail(message=message, type=kind))


@dataclass(slots=True)
class ChunkCodec:
    """The ``StreamCodec`` of chat completion chunks."""

    assembler: ChatAssembler
    include_usage: bool = False

    def opening(self) -> list[bytes]:
        """The role chunk."""
        return [data_frame(self.assembler.chunk(wire.Delta(role="assistant", content="")))]

    def encode(self, event: GenerationEvent) -> list[bytes]:
        """The chunk of one event; ``Finished`` gives the finish reason (and usage)."""
        if isinstance(event, Finished):
            frames = [data_frame(self.assembler.chunk(wire.Delta(), FINISH[event.reason]))]
            if self.include_usage:
                last = wire.ChatCompletionChunk(
                    id=self.assembler.id,
                    created=self.assembler.created,
                    model=self.assembler.model,
                    choices=[],
                    usage=usage(event),
                )
                frames.append(data_frame(last))
            return frames
        chunk = self.assembler.chunk_for(event)
        return [] if chunk is None else [data_frame(chunk)]

    def closing(self) -> list[bytes]:
        """``data: [DONE]``."""
        return [b"data: [DONE]\n\n"]

    def ping(self) -> bytes:
        """An SSE comment: OpenAI clients skip lines that start with ``:``."""
        return b": ping\n\n"

    def waiting(self) -> bytes:
        """The same comment: nothing has to come first in an OpenAI stream."""
        return self.ping()

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The error object as a data frame."""
        return data_frame(error_body(kind, message))
