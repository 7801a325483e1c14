"""Anthropic Messages API requests (``POST /v1/messages``, ``/v1/messages/count_tokens``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from pensieve_api._base import WireIn

# --- content blocks -----------------------------------------------------------------------


class Cacheable(WireIn, kw_only=True):
    """A part that may carry a prompt-cache breakpoint (``cache_control``; its ``ttl`` ignored)."""

    cache_control: dict[str, Any] | None = None


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


class TextBlock(Cacheable, tag="text", tag_field="type"):
    """Text; ``cache_control`` and ``citations`` are accepted and ignored."""

    text: str


class ContentSource(WireIn, tag="content", tag_field="type"):
    """A document given as content blocks."""

    content: str | list[TextBlock]


class ImageBlock(Cacheable, tag="image", tag_field="type"):
    """An image."""

    source: Base64Source | URLSource


class DocumentBlock(Cacheable, tag="document", tag_field="type"):
    """A document; text sources are supported."""

    source: TextSource | ContentSource | Base64Source | URLSource
    title: str | None = None
    context: str | None = None


class ToolUseBlock(Cacheable, tag="tool_use", tag_field="type"):
    """A tool call from an earlier assistant turn."""

    id: str
    name: str
    input: dict[str, Any]


class ToolReferenceBlock(WireIn, tag="tool_reference", tag_field="type"):
    """A deferred tool that a tool search loaded (Claude Code's ToolSearch answers with these)."""

    tool_name: str


class SearchResultBlock(Cacheable, tag="search_result", tag_field="type"):
    """A search result the client supplies, with its source and text."""

    source: str
    title: str = ""
    content: list[TextBlock] = msgspec.field(default_factory=list)


class ToolResultBlock(Cacheable, tag="tool_result", tag_field="type"):
    """The result of a tool call."""

    tool_use_id: str
    content: (
        str
        | list[TextBlock | ImageBlock | DocumentBlock | ToolReferenceBlock | SearchResultBlock]
        | None
    ) = None
    is_error: bool = False


class ServerToolUseBlock(WireIn, tag="server_tool_use", tag_field="type"):
    """A server tool call (web search and the like) from an earlier assistant turn."""

    id: str
    name: str
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class ServerToolResultBlock(WireIn, kw_only=True):
    """The result of a server tool (``web_search_tool_result`` and its kin), kept as data."""

    tool_use_id: str = ""
    content: Any = None


# One tagged type per server tool result: msgspec unions dispatch on the `type` tag.
class WebSearchToolResult(ServerToolResultBlock, tag="web_search_tool_result", tag_field="type"):
    """Results of a server web search."""


class WebFetchToolResult(ServerToolResultBlock, tag="web_fetch_tool_result", tag_field="type"):
    """A page a server web fetch read."""


class CodeExecutionToolResult(
    ServerToolResultBlock, tag="code_execution_tool_result", tag_field="type"
):
    """Output of server code execution."""


class BashCodeExecutionToolResult(
    ServerToolResultBlock, tag="bash_code_execution_tool_result", tag_field="type"
):
    """Output of a server bash command."""


class TextEditorCodeExecutionToolResult(
    ServerToolResultBlock, tag="text_editor_code_execution_tool_result", tag_field="type"
):
    """Output of the server text editor."""


class ToolSearchToolResult(ServerToolResultBlock, tag="tool_search_tool_result", tag_field="type"):
    """Tools a server tool search found."""


class McpToolResult(ServerToolResultBlock, tag="mcp_tool_result", tag_field="type"):
    """The answer of an MCP server tool."""


class McpToolUseBlock(WireIn, tag="mcp_tool_use", tag_field="type"):
    """An MCP server tool call from an earlier assistant turn."""

    id: str
    name: str
    server_name: str = ""
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class CompactionBlock(WireIn, tag="compaction", tag_field="type"):
    """A summary that replaced earlier turns (context management)."""

    content: str | None = None


class ContainerUploadBlock(WireIn, tag="container_upload", tag_field="type"):
    """A file handed to a code-execution container: nothing a local model can read."""

    file_id: str = ""


class ThinkingBlock(WireIn, tag="thinking", tag_field="type"):
    """Reasoning from an earlier assistant turn, returned verbatim."""

    thinking: str
    signature: str = ""


class RedactedThinkingBlock(WireIn, tag="redacted_thinking", tag_field="type"):
    """Encrypted reasoning from an earlier turn."""

    data: str


class Tool(Cacheable):
    """A client tool (``cache_control``, ``strict``, ``input_examples`` and the like ignored).

    ``defer_loading`` tools are described where a ``tool_reference`` loads them, not up front.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    description: str = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object"})
    type: str | None = None
    defer_loading: bool = False


class ToolChangeReference(WireIn, tag="tool_reference", tag_field="type"):
    """A tool named in ``tools`` (or defined earlier in the conversation)."""

    name: str


class ToolChangeMcpReference(WireIn, tag="mcp_tool_reference", tag_field="type"):
    """One tool of an MCP server."""

    name: str
    server_name: str


class ToolChangeMcpToolset(WireIn, tag="mcp_toolset_reference", tag_field="type"):
    """Every tool of an MCP server."""

    server_name: str


class ToolChangeDefinition(WireIn, tag="tool_definition", tag_field="type"):
    """A tool defined inline, mid-conversation."""

    definition: Tool


ToolChange = (
    ToolChangeReference | ToolChangeMcpReference | ToolChangeMcpToolset | ToolChangeDefinition
)


class ToolAdditionBlock(WireIn, tag="tool_addition", tag_field="type"):
    """In a ``role: "system"`` turn: ``tool`` is offered from here on."""

    tool: ToolChange


class ToolRemovalBlock(WireIn, tag="tool_removal", tag_field="type"):
    """In a ``role: "system"`` turn: ``tool`` is no longer offered from here on."""

    tool: ToolChange


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | SearchResultBlock
    | ServerToolUseBlock
    | McpToolUseBlock
    | CompactionBlock
    | ContainerUploadBlock
    | WebSearchToolResult
    | WebFetchToolResult
    | CodeExecutionToolResult
    | BashCodeExecutionToolResult
    | TextEditorCodeExecutionToolResult
    | ToolSearchToolResult
    | McpToolResult
    | ToolAdditionBlock
    | ToolRemovalBlock
)


class Message(WireIn):
    """One turn. ``system`` turns (sent by recent Claude Code) may carry ``clear_at``."""

    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]
    clear_at: Literal["next_user_message", "never"] | None = None
    """A system turn shown only until a later user turn exists (``next_user_message``)."""


# --- tools, tool choice, thinking -----------------------------------------------------------


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
    display: str | None = None


class ThinkingDisabled(WireIn, tag="disabled", tag_field="type"):
    """No reasoning."""


class ThinkingAdaptive(WireIn, tag="adaptive", tag_field="type"):
    """The model decides (Claude Code's default)."""

    display: str | None = None


class ThinkingBetweenTools(WireIn, tag="between_tools", tag_field="type"):
    """Reasoning only after tool results."""

    budget_tokens: int = 0
    display: str | None = None


ThinkingConfig = ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive | ThinkingBetweenTools


class JSONSchemaFormat(WireIn, tag="json_schema", tag_field="type"):
    """The answer is JSON valid under ``schema`` (what the SDK's ``messages.parse`` sends)."""

    schema: dict[str, Any]


class OutputConfig(WireIn):
    """``output_config``: ``format`` constrains the answer; ``effort`` is accepted and ignored."""

    format: JSONSchemaFormat | None = None
    effort: str | None = None


class DiagnosticsParam(WireIn):
    """``diagnostics``: ask why the prompt cache missed, against an earlier response."""

    previous_message_id: str | None = None


class McpServer(WireIn):
    """A remote MCP server Anthropic would connect to (``mcp_servers``); not reachable here."""

    name: str
    url: str = ""
    type: str = "url"


# --- requests --------------------------------------------------------------------------------

System = str | list[TextBlock]


class MessagesRequest(WireIn):
    """``POST /v1/messages``.

    Unknown top-level fields (``context_management``, ``safeguards``...) are tolerated and
    ignored. ``max_tokens: 0`` prefills the prompt into the cache and answers an empty message.
    """

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=0)]
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
    output_config: OutputConfig | None = None
    output_format: JSONSchemaFormat | None = None
    """The older (beta) place of ``output_config.format``."""
    mcp_servers: list[McpServer] | None = None
    cache_control: dict[str, Any] | None = None
    """Automatic caching: one breakpoint on the last cacheable block."""
    diagnostics: DiagnosticsParam | None = None


class CountTokensRequest(WireIn):
    """``POST /v1/messages/count_tokens``."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    system: System | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    mcp_servers: list[McpServer] | None = None
    output_config: OutputConfig | None = None
    output_format: JSONSchemaFormat | None = None
