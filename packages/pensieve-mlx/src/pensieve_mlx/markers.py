"""A model's thinking and tool-call markers, and its call parser, as mlx-lm's tokenizer knows them.

mlx-lm's ``TokenizerWrapper`` infers the thinking markers from the vocabulary and the tool-call
format (``mlx_lm.tool_parsers``) from the chat template. Hermes JSON inside ``<tool_call>`` (Qwen,
and the fallback prompt for templates without tools) is read by the router itself, which streams
its arguments; every other format is parsed whole by mlx-lm's parser once the call has closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pensieve_core import ToolSpec

ParsedCall = tuple[str, dict[str, Any]]
"""A tool call's name and arguments."""

_JSON_PARSER = "mlx_lm.tool_parsers.json_tools"
"""mlx-lm's Hermes parser (named, not imported: importing mlx-lm loads MLX and transformers)."""

CallParser = Callable[[str, Sequence[ToolSpec]], list[ParsedCall]]
"""Reads a call body (the text between the markers); raises on anything but a well-formed call."""


@dataclass(frozen=True, slots=True)
class ModelMarkers:
    """Where thinking and tool calls start and end in a model's output, and how calls read.

    The defaults are Qwen's (Hermes) format, which the fallback tool prompt also asks for.
    """

    think_start: str = "<think>"
    think_end: str = "</think>"
    call_start: str = "<tool_call>"
    call_end: str = "</tool_call>"
    """Empty where a call runs to the end of the response (Mistral's ``[TOOL_CALLS]``)."""
    parse_call: CallParser | None = None
    """``None``: the body is Hermes JSON, read (and streamed) by the router itself."""
    hidden: frozenset[str] = frozenset()
    """Texts of special tokens that are never output (``<|endoftext|>``, ``<|im_start|>``...):
    mlx-lm's detokenizer writes every token as text, markers and control tokens alike."""

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, *, native_tools: bool) -> ModelMarkers:
        """The markers of mlx-lm's ``TokenizerWrapper`` ``tokenizer``.

        ``native_tools``: the chat template renders tools. Without that the fallback prompt asks
        for Hermes JSON, whatever the model's own format.
        """
        # Without thinking tokens `<think>` is still split out as text, as it always was.
        think = HERMES
        if getattr(tokenizer, "has_thinking", False):
            think = cls(think_start=tokenizer.think_start, think_end=tokenizer.think_end)
        parser = getattr(tokenizer, "tool_parser", None)
        start = getattr(tokenizer, "tool_call_start", None)
        hermes_body = getattr(parser, "__module__", None) == _JSON_PARSER
        markers = think
        if native_tools and parser is not None and start and not hermes_body:
            markers = replace(
                think,
                call_start=start,
                call_end=tokenizer.tool_call_end or "",
                parse_call=_mlx_lm_parser(parser),
            )
        routed = {
            markers.think_start,
            markers.think_end,
            markers.call_start,
            markers.call_end,
            HERMES.call_start,
            HERMES.call_end,
        }
        return replace(markers, hidden=_special_texts(tokenizer) - routed)


HERMES = ModelMarkers()
"""Qwen's ``<tool_call>`` JSON: what the fallback prompt and the call grammar write."""


def _special_texts(tokenizer: Any) -> frozenset[str]:
    """The texts of the tokenizer's special tokens (those it marks ``special``)."""
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    decoder = getattr(hf, "added_tokens_decoder", None) or {}
    return frozenset(
        str(t.content) for t in decoder.values() if getattr(t, "special", False) and t.content
    )


def openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """``tools`` as the OpenAI-style list that chat templates and mlx-lm's parsers read."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": dict(t.input_schema),
            },
        }
        for t in tools
    ]


def _mlx_lm_parser(parse: Callable[[str, Any], Any]) -> CallParser:
    """Wrap an mlx-lm ``parse_tool_call`` (one dict or a list of them) as a ``CallParser``."""

    def parse_call(text: str, tools: Sequence[ToolSpec]) -> list[ParsedCall]:
        # The parsers convert argument values by the tools' schemas (e.g. qwen3_coder's strings).
        parsed = parse(text, openai_tools(tools) or None)
        calls: list[ParsedCall] = []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            name = item.get("name") if isinstance(item, Mapping) else None
            args = item.get("arguments") if isinstance(item, Mapping) else None
            if not isinstance(name, str) or not isinstance(args, dict):
                raise ValueError(f"not a tool call: {item!r}")
            calls.append((name, args))
        if not calls:
            raise ValueError("no tool call")
        return calls

    return parse_call
