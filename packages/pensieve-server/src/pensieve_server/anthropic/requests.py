"""Anthropic wire requests -> domain ``GenerationRequest``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pensieve_api.anthropic import requests as wire
from pensieve_core import (
    ContentPart,
    GenerationRequest,
    ImagePart,
    InvalidRequestError,
    Message,
    SamplingParams,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
    UnsupportedContentError,
)
from pensieve_server.state import RequestDefaults

# Claude Code's first system block, `x-anthropic-billing-header: cc_version=...; cch=...;`, changes
# on every request: dropped, so that the rendered prompt's prefix stays cacheable.
_BILLING_LINE = re.compile(r"^x-anthropic-billing-header:[^\n]*\n?", re.MULTILINE)


def _document_text(block: wire.DocumentBlock) -> str:
    source = block.source
    if isinstance(source, wire.TextSource):
        body = source.data
    elif isinstance(source, wire.ContentSource):
        body = (
            source.content
            if isinstance(source.content, str)
            else "\n".join(b.text for b in source.content)
        )
    else:
        raise UnsupportedContentError("only text documents are supported (no PDF or URL sources)")
    title = f"# {block.title}\n\n" if block.title else ""
    return f"{title}{body}"


def _image(block: wire.ImageBlock) -> ImagePart:
    source = block.source
    if isinstance(source, wire.URLSource):
        return ImagePart(media_type="", data=source.url, is_url=True)
    return ImagePart(media_type=source.media_type, data=source.data)


def _search_result_text(block: wire.SearchResultBlock) -> str:
    title = f"{block.title} ({block.source})" if block.title else block.source
    return "\n".join([title, *(b.text for b in block.content)])


def _loaded_tool_text(name: str, tools: dict[str, ToolSpec]) -> str:
    """What a ``tool_reference`` renders as: the deferred tool's definition, at this point."""
    tool = tools.get(name)
    if tool is None:
        return f"Tool {name} is now available."
    definition = {
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.input_schema),
    }
    return f"Tool {name} is now available:\n{json.dumps(definition, ensure_ascii=False)}"


def _tool_result_text(block: wire.ToolResultBlock, tools: dict[str, ToolSpec]) -> str:
    content = block.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for item in content:
        if isinstance(item, wire.TextBlock):
            pieces.append(item.text)
        elif isinstance(item, wire.DocumentBlock):
            pieces.append(_document_text(item))
        elif isinstance(item, wire.ToolReferenceBlock):
            pieces.append(_loaded_tool_text(item.tool_name, tools))
        elif isinstance(item, wire.SearchResultBlock):
            pieces.append(_search_result_text(item))
        else:
            raise UnsupportedContentError(
                "this model has no vision: images in tool results are not supported"
            )
    return "\n".join(pieces)


def _server_block_text(block: wire.ContentBlock) -> str | None:
    """Server-side tool traffic and summaries, as text a local model can read (None: skip)."""
    if isinstance(block, wire.SearchResultBlock):
        return _search_result_text(block)
    if isinstance(block, wire.ServerToolUseBlock | wire.McpToolUseBlock):
        return f"[{block.name} was called with {json.dumps(block.input, ensure_ascii=False)}]"
    if isinstance(block, wire.ServerToolResultBlock):
        tag = block.__struct_config__.tag
        return f"[{tag}]\n{json.dumps(block.content, ensure_ascii=False, default=str)}"
    if isinstance(block, wire.CompactionBlock):
        return block.content or ""
    return None  # container_upload: a file only a code-execution container could read


Verify = Callable[[str, str], bool]
"""Whether a thinking block's ``(thinking, signature)`` is this server's own."""


def _never(thinking: str, signature: str) -> bool:
    return False


def _part(
    block: wire.ContentBlock, tools: dict[str, ToolSpec], verify: Verify
) -> ContentPart | None:
    if isinstance(block, wire.TextBlock):
        return TextPart(block.text)
    if isinstance(block, wire.ImageBlock):
        return _image(block)
    if isinstance(block, wire.DocumentBlock):
        return TextPart(_document_text(block))
    if isinstance(block, wire.ToolUseBlock):
        return ToolCallPart(block.id, block.name, block.input)
    if isinstance(block, wire.ToolResultBlock):
        return ToolResultPart(block.tool_use_id, _tool_result_text(block, tools), block.is_error)
    if isinstance(block, wire.ThinkingBlock):
        # Another backend's reasoning (or an edited one) is not replayed as this model's own.
        if not verify(block.thinking, block.signature):
            return None
        return ThinkingPart(block.thinking, block.signature)
    if isinstance(block, wire.RedactedThinkingBlock):
        return None  # encrypted by Anthropic: nothing a local model can read
    text = _server_block_text(block)
    return None if text is None else TextPart(text)


def _leading_system(messages: list[wire.Message]) -> list[wire.Message]:
    """The ``role: "system"`` turns before the first user or assistant turn."""
    lead: list[wire.Message] = []
    for m in messages:
        if m.role != "system":
            break
        lead.append(m)
    return lead


def _change_name(change: wire.ToolChange) -> str:
    if isinstance(change, wire.ToolChangeReference):
        return change.name
    if isinstance(change, wire.ToolChangeDefinition):
        return change.definition.name
    if isinstance(change, wire.ToolChangeMcpReference):
        return f"{change.server_name}_{change.name}"
    return f"{change.server_name} (MCP toolset)"


@dataclass(slots=True)
class _Tools:
    """The request's client tools as the conversation changes them (``tool_addition``...)."""

    listed: tuple[ToolSpec, ...]
    """The ``tools`` array: what the prompt starts with (deferred ones described later)."""
    by_name: dict[str, ToolSpec] = field(init=False)
    removed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.by_name = {t.name: t for t in self.listed}

    def system_text(self, message: wire.Message) -> str:
        """A system turn's text, with its tool changes written where they happen."""
        if isinstance(message.content, str):
            return message.content
        pieces: list[str] = []
        for block in message.content:
            if isinstance(block, wire.TextBlock):
                pieces.append(block.text)
            elif isinstance(block, wire.ToolAdditionBlock):
                pieces.append(self._add(block.tool))
            elif isinstance(block, wire.ToolRemovalBlock):
                name = _change_name(block.tool)
                self.removed.add(name)
                pieces.append(f"Tool {name} is no longer available.")
        return "\n".join(p for p in pieces if p)

    def _add(self, change: wire.ToolChange) -> str:
        name = _change_name(change)
        self.removed.discard(name)
        if isinstance(change, wire.ToolChangeDefinition):
            tool = change.definition
            if not _is_client_tool(tool):
                return ""  # a server tool, skipped like one in `tools`
            # Offered from here on only: described here, never in the tool list up front.
            self.by_name[name] = ToolSpec(
                tool.name, tool.description, tool.input_schema, deferred=True
            )
        elif isinstance(change, wire.ToolChangeMcpReference | wire.ToolChangeMcpToolset):
            return ""  # MCP servers are not reachable from here
        return _loaded_tool_text(name, self.by_name)

    def final(self) -> tuple[ToolSpec, ...]:
        """The tools callable at the end: listed and added ones, less the removed."""
        return tuple(t for t in self.by_name.values() if t.name not in self.removed)


def _messages(wire_messages: list[wire.Message], tools: _Tools, verify: Verify) -> list[Message]:
    """User and assistant turns, with later ``role: "system"`` turns kept where they stand.

    Claude Code sends system turns mid-conversation (the environment after the first prompt, a
    token countdown after tool results) and changes their text every turn. Moved to the front,
    they would change the prompt's first tokens each turn and void the prefix cache; kept at
    their position, as a reminder inside the user turn they follow (or a user turn of their own
    after an assistant turn: every chat template takes that), the prefix before them holds.

    One exception: a system turn right after the first user turn, before any answer (Claude
    Code's environment: working directory, platform, deferred tools, agent types), goes before
    that turn's content. It is the same for every session started in a directory and the prompt
    is not, so a new session's first turn then reuses the cached environment too (a warm start
    covers everything up to the prompt), and every later turn renders it in the same place.
    """
    out: list[Message] = []
    hoisted = 0
    rest = wire_messages[len(_leading_system(wire_messages)) :]
    for i, m in enumerate(rest):
        if m.role == "system":
            later_user = any(n.role == "user" for n in rest[i + 1 :])
            text = tools.system_text(m)
            if not text or (m.clear_at == "next_user_message" and later_user):
                continue
            reminder = TextPart(f"<system-reminder>\n{text}\n</system-reminder>")
            if len(out) == 1 and out[0].role == "user":
                # Before the first turn's own content, after earlier environment reminders.
                parts = out[0].parts
                out[0] = Message("user", (*parts[:hoisted], reminder, *parts[hoisted:]))
                hoisted += 1
            elif out and out[-1].role == "user":
                out[-1] = Message("user", (*out[-1].parts, reminder))
            else:
                out.append(Message("user", (reminder,)))
            continue
        parts = (
            (TextPart(m.content),)
            if isinstance(m.content, str)
            else tuple(p for b in m.content if (p := _part(b, tools.by_name, verify)) is not None)
        )
        out.append(Message(m.role, parts))
    return out


def _system(system: wire.System | None, messages: list[wire.Message], tools: _Tools) -> str:
    pieces = [system] if isinstance(system, str) else [b.text for b in system or []]
    # System turns before the conversation starts join the system prompt, in order.
    pieces += [tools.system_text(m) for m in _leading_system(messages)]
    return _BILLING_LINE.sub("", "\n\n".join(p for p in pieces if p)).lstrip("\n")


def _tool_choice(choice: wire.ToolChoice | None) -> ToolChoice:
    if isinstance(choice, wire.ToolChoiceNone):
        return ToolChoice("none")
    parallel = choice is None or not choice.disable_parallel_tool_use
    if isinstance(choice, wire.ToolChoiceAny):
        return ToolChoice("any", parallel=parallel)
    if isinstance(choice, wire.ToolChoiceTool):
        return ToolChoice("tool", choice.name, parallel=parallel)
    return ToolChoice("auto", parallel=parallel)


def _thinking_budget(config: wire.ThinkingConfig | None) -> int:
    if isinstance(config, wire.ThinkingEnabled | wire.ThinkingBetweenTools):
        return config.budget_tokens
    return 0


def _thinking(config: wire.ThinkingConfig | None, messages: list[Message]) -> bool | None:
    if isinstance(config, wire.ThinkingEnabled):
        return True
    if isinstance(config, wire.ThinkingDisabled):
        return False
    if isinstance(config, wire.ThinkingBetweenTools):
        return bool(messages) and messages[-1].hands_back_tool_results
    return None


TEXT_ONLY = "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools."
"""How Claude Code's compaction request (a summary of the session) opens its instructions."""
SUMMARY_OPEN = "<summary>\n"
"""How its answer must start: Claude Code reads the summary from a ``<summary>`` block."""


def _compaction_turns(messages: list[Message]) -> int | None:
    """How many turns back Claude Code's compaction ask is (0: the last turn), if it is running.

    The ask keeps the session's tools (so the prompt before it stays cached) and sets no
    ``tool_choice``; answered with a call (``engine.tool-grammar=always`` forces one, a small
    model may open one on its own), compaction fails and Claude Code cannot go on. A summary cut
    off by ``max_tokens`` is resumed with a plain text turn, which is still the compaction: so
    the ask counts while only text turns (no calls, no results) follow it.
    """
    for back, message in enumerate(reversed(messages[-5:])):
        if any(isinstance(p, (ToolCallPart, ToolResultPart)) for p in message.parts):
            return None
        if message.role == "user" and any(
            isinstance(p, TextPart) and TEXT_ONLY in p.text for p in message.parts
        ):
            return back
    return None


def _is_client_tool(tool: wire.Tool) -> bool:
    # Server tools (web search, code execution, computer use...) carry a versioned `type`, such
    # as `web_search_20250305`, and run on Anthropic's side: nothing here can run them.
    return tool.type in (None, "custom")


def _tools(tools: list[wire.Tool] | None) -> tuple[ToolSpec, ...]:
    return tuple(
        ToolSpec(t.name, t.description, t.input_schema, deferred=t.defer_loading)
        for t in tools or []
        if _is_client_tool(t)
    )


def asks_for_caching(request: wire.MessagesRequest) -> bool:
    """Whether the request sets a cache breakpoint anywhere (Claude Code always does).

    Anthropic writes the cache only up to breakpoints; Pensieve keeps every prompt, but reports
    the writes (``cache_creation_input_tokens``) only to requests that asked for caching, so that
    one that did not sees its whole prompt as ``input_tokens``, as it would upstream.
    """
    if request.cache_control is not None:
        return True
    blocks: list[wire.Cacheable] = [*(request.tools or [])]
    if isinstance(request.system, list):
        blocks += request.system
    for message in request.messages:
        if isinstance(message.content, list):
            blocks += [b for b in message.content if isinstance(b, wire.Cacheable)]
    return any(b.cache_control is not None for b in blocks)


def skipped_tools(request: wire.MessagesRequest | wire.CountTokensRequest) -> list[str]:
    """The server tools and MCP servers of ``request``, which are accepted and not offered."""
    skipped = [f"{t.name} ({t.type})" for t in request.tools or [] if not _is_client_tool(t)]
    for server in request.mcp_servers or []:
        skipped.append(f"{server.name} (MCP server {server.url})")
    return skipped


def to_domain(
    request: wire.MessagesRequest | wire.CountTokensRequest,
    defaults: RequestDefaults,
    verify: Verify = _never,
) -> GenerationRequest:
    """Translate a Messages (or count_tokens) request.

    ``verify`` tells this server's thinking blocks from others; only those are replayed.
    """
    changes = _Tools(_tools(request.tools))
    system = _system(request.system, request.messages, changes)
    messages = _messages(request.messages, changes, verify)
    tools = changes.final()
    if not messages:
        raise InvalidRequestError("messages: at least one user or assistant message is required")
    choice = _tool_choice(request.tool_choice)
    compaction = _compaction_turns(messages) if choice.mode == "auto" else None
    if compaction is not None:
        choice = ToolChoice("none")
    if choice.mode in ("any", "tool") and not tools:
        raise InvalidRequestError("tool_choice requires tools")
    sampling = SamplingParams(max_tokens=1)
    schema = None
    if isinstance(request, wire.MessagesRequest):
        output = request.output_config
        format_ = output.format if output and output.format else request.output_format
        schema = format_.schema if format_ else None
        sampling = SamplingParams(
            max_tokens=request.max_tokens,
            temperature=(
                defaults.temperature if request.temperature is None else request.temperature
            ),
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=request.top_k or 0,
            stop=tuple(request.stop_sequences or ()),
        )
    return GenerationRequest(
        messages=tuple(messages),
        system=system,
        tools=tools,
        tool_choice=choice,
        sampling=sampling,
        thinking=_thinking(request.thinking, messages),
        thinking_budget=_thinking_budget(request.thinking),
        response_schema=schema,
        # Claude Code takes a compaction only with a <summary> block; small models forget it.
        answer_prefix=SUMMARY_OPEN if compaction == 0 and schema is None else "",
    )
