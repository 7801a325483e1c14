"""OpenAI chat completions (``POST /v1/chat/completions``): requests, responses and chunks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from pensieve_api._base import WireIn, WireOut

# --- request ---------------------------------------------------------------------------------


class TextPart(WireIn, tag="text", tag_field="type"):
    """A text part of a message."""

    text: str


class ImageURL(WireIn):
    """An image reference."""

    url: str


class ImagePart(WireIn, tag="image_url", tag_field="type"):
    """An image part of a message."""

    image_url: ImageURL


class FunctionCall(WireIn):
    """A function call: name and JSON-encoded arguments."""

    name: str
    arguments: str = "{}"


class ToolCall(WireIn):
    """A tool call in an earlier assistant message."""

    id: str
    function: FunctionCall
    type: str = "function"


class ChatMessage(WireIn):
    """One message."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionDef(WireIn):
    """A callable function."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object"})


class ToolDef(WireIn):
    """A tool."""

    function: FunctionDef
    type: Literal["function"] = "function"


class NamedFunction(WireIn):
    """The function a named tool choice forces."""

    name: str


class NamedToolChoice(WireIn):
    """Force one function."""

    function: NamedFunction
    type: Literal["function"] = "function"


class StreamOptions(WireIn):
    """Streaming options."""

    include_usage: bool = False


class JSONSchemaSpec(WireIn):
    """``response_format.json_schema``."""

    name: str = "response"
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class ResponseFormatJSONSchema(WireIn, tag="json_schema", tag_field="type"):
    """The answer is JSON valid under the schema."""

    json_schema: JSONSchemaSpec


class ResponseFormatJSONObject(WireIn, tag="json_object", tag_field="type"):
    """The answer is a JSON object."""


class ResponseFormatText(WireIn, tag="text", tag_field="type"):
    """Free text (the default)."""


ResponseFormat = ResponseFormatJSONSchema | ResponseFormatJSONObject | ResponseFormatText


class ChatCompletionRequest(WireIn):
    """``POST /v1/chat/completions``; unknown fields are tolerated."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0)] | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    seed: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None
    """OpenAI's bounds: a signed 64-bit integer."""
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1
    response_format: ResponseFormat | None = None


# --- response --------------------------------------------------------------------------------


class OutFunction(WireOut):
    """A generated call."""

    name: str
    arguments: str


class OutToolCall(WireOut):
    """A generated tool call."""

    id: str
    function: OutFunction
    type: str = "function"


class OutMessage(WireOut):
    """The generated message."""

    content: str | None
    tool_calls: list[OutToolCall] | None = None
    role: str = "assistant"


class Choice(WireOut):
    """The (only) choice."""

    index: int
    message: OutMessage
    finish_reason: str


class PromptTokensDetails(WireOut):
    """Prompt tokens served from the prefix cache."""

    cached_tokens: int


class CompletionUsage(WireOut):
    """Token usage."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class ChatCompletion(WireOut):
    """A complete response."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    object: str = "chat.completion"


class DeltaFunction(WireOut, omit_defaults=True):
    """A piece of a streamed call."""

    arguments: str
    name: str | None = None


class DeltaToolCall(WireOut, omit_defaults=True):
    """A piece of a streamed tool call."""

    index: int
    function: DeltaFunction
    id: str | None = None
    type: str | None = None


class Delta(WireOut, omit_defaults=True):
    """What a chunk adds."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(WireOut):
    """The choice of a chunk."""

    index: int
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(WireOut):
    """One streamed chunk."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    object: str = "chat.completion.chunk"
