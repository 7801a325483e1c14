"""Render a GenerationRequest into the model's prompt with its own chat template.

Templates that render ``tools`` get them natively (HF ``tools`` / ``tool_calls`` / ``tool``
messages). Others get the fallback format: tool definitions appended to the system prompt, calls
written as ``<tool_call>{json}</tool_call>`` and results as ``<tool_response>`` user text. Claude
Code's per-request billing line is removed first, so the shared prompt prefix stays stable.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pensieve_core import (
    GenerationRequest,
    ImagePart,
    InvalidRequestError,
    Message,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UnsupportedContentError,
)

FALLBACK_TOOLS_HEADER = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


def _tool_json(tool: ToolSpec) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.input_schema),
    }


def _listed_tools(request: GenerationRequest) -> tuple[ToolSpec, ...]:
    """The tools the prompt lists up front.

    Deferred ones are described where they are loaded, so loading one mid-session leaves
    everything before that point byte-identical (and cached).
    """
    return tuple(t for t in request.tools if not t.deferred)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """The prompt as text and tokens, and what the response starts inside."""

    text: str
    tokens: list[int]
    starts_thinking: bool
    boundaries: tuple[int, ...] = ()
    """Token positions where a stable prefix ends (the system prompt and tools), worth a
    snapshot of their own: another conversation with the same setup starts there."""


class PromptRenderer:
    """Renders requests with one tokenizer's chat template."""

    def __init__(self, tokenizer: Any, *, native_tools: bool, think_start: str = "<think>") -> None:
        self._tokenizer = tokenizer
        self.native_tools = native_tools
        self._think_start = think_start
        """The model's thinking marker: a template that ends with it opens the answer thinking."""
        self._setups: OrderedDict[str, list[int]] = OrderedDict()
        """Rendered system prompt and tools (with an empty user turn), by their text."""
        self._setups_lock = threading.Lock()  # renders run on several threads

    def render(self, request: GenerationRequest) -> RenderedPrompt:
        """Render and tokenize exactly as generation will see it."""
        messages = self._messages(request)
        if not messages:
            raise InvalidRequestError(
                "the conversation is empty: every message (and the system prompt) has no content"
            )
        kwargs: dict[str, Any] = {}
        if request.thinking is not None:
            kwargs["enable_thinking"] = request.thinking
        listed = _listed_tools(request)
        if listed and self.native_tools:
            kwargs["tools"] = [{"type": "function", "function": _tool_json(t)} for t in listed]
        text = self._tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=False,
            **kwargs,
        )
        assert isinstance(text, str)
        # The template already wrote the special tokens (BOS included) as text.
        tokens = list(self._tokenizer.encode(text, add_special_tokens=False))
        setup = self._setup_end(messages, kwargs, tokens)
        return RenderedPrompt(
            text,
            tokens,
            text.rstrip().endswith(self._think_start),
            (setup,) if 0 < setup < len(tokens) - 1 else (),
        )

    def _setup_end(
        self, messages: list[dict[str, Any]], kwargs: dict[str, Any], tokens: list[int]
    ) -> int:
        """Where the system prompt and tools end in ``tokens`` (0 if there are none).

        Found as mlx-lm's server does: the setup rendered with an empty user turn, compared with
        the prompt; kept by its text, since every turn of every session repeats it.
        """
        if not messages or messages[0]["role"] != "system":
            return 0
        probe = [messages[0], {"role": "user", "content": ""}]
        key = json.dumps([messages[0]["content"], kwargs], sort_keys=True, default=str)
        with self._setups_lock:
            setup = self._setups.get(key)
        if setup is None:
            text = self._tokenizer.apply_chat_template(
                probe, add_generation_prompt=False, tokenize=False, **kwargs
            )
            setup = list(self._tokenizer.encode(text, add_special_tokens=False))
        with self._setups_lock:
            self._setups[key] = setup
            self._setups.move_to_end(key)
            if len(self._setups) > 32:
                self._setups.popitem(last=False)
        end = 0
        for a, b in zip(setup, tokens, strict=False):
            if a != b:
                break
            end += 1
        return end

    def _system(self, request: GenerationRequest) -> str:
        system = request.system
        listed = _listed_tools(request)
        if listed and not self.native_tools and request.tool_choice.mode != "none":
            tools = "\n".join(json.dumps(_tool_json(t), ensure_ascii=False) for t in listed)
            header = FALLBACK_TOOLS_HEADER.format(tools=tools)
            system = f"{system}\n\n{header}" if system else header
        return system

    def _messages(self, request: GenerationRequest) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if system := self._system(request):
            out.append({"role": "system", "content": system})
        for message in request.messages:
            for item in self._convert(message):
                if (
                    out
                    and item["role"] == out[-1]["role"]
                    and item["role"] != "tool"
                    and not item.get("tool_calls")
                    and not out[-1].get("tool_calls")
                ):
                    # Same-role turns (Claude Code sends them) are merged: many templates require alternation.
                    out[-1]["content"] = f"{out[-1]['content']}\n\n{item['content']}".strip("\n")
                else:
                    out.append(item)
        return out

    def _convert(self, message: Message) -> list[dict[str, Any]]:
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        reasoning: list[str] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                text.append(part.text)
            elif isinstance(part, ImagePart):
                raise UnsupportedContentError(
                    "this model has no vision: image content is not supported"
                )
            elif isinstance(part, ThinkingPart):
                # Templates that replay reasoning (Qwen3, within a tool loop) read it from here;
                # the others drop it. Either way the prompt is what the model generated.
                if part.text and not part.redacted:
                    reasoning.append(part.text)
            elif isinstance(part, ToolCallPart):
                calls.append({"name": part.name, "arguments": dict(part.arguments)})
            elif isinstance(part, ToolResultPart):
                results.append(
                    {
                        "tool_call_id": part.tool_call_id,
                        "content": part.content,
                        "is_error": part.is_error,
                    }
                )
        items = (
            self._native(message.role, "\n\n".join(text), calls, results)
            if self.native_tools
            else self._fallback(message.role, text, calls, results)
        )
        if reasoning and message.role == "assistant":
            for item in items:
                if item["role"] == "assistant":
                    item["reasoning_content"] = "\n\n".join(reasoning)
        return items

    @staticmethod
    def _native(
        role: str, text: str, calls: list[dict[str, Any]], results: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [
            {"role": "tool", "tool_call_id": r["tool_call_id"], "content": r["content"]}
            for r in results
        ]
        if calls:
            tool_calls = [{"type": "function", "function": c} for c in calls]
            items.append({"role": "assistant", "content": text, "tool_calls": tool_calls})
        elif text or not results:
            items.append({"role": role, "content": text})
        return items

    @staticmethod
    def _fallback(
        role: str, text: list[str], calls: list[dict[str, Any]], results: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        pieces = list(text)
        pieces += [f"<tool_call>\n{json.dumps(c, ensure_ascii=False)}\n</tool_call>" for c in calls]
        for r in results:
            status = " (error)" if r["is_error"] else ""
            pieces.append(f"<tool_response{status}>\n{r['content']}\n</tool_response>")
        return [{"role": role, "content": "\n\n".join(pieces)}]
