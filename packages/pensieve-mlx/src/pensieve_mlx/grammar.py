"""Grammar-constrained tool calls with llguidance, as a per-sequence logits processor.

A forced call (``tool_choice`` any / tool) runs under a grammar for the whole response; ``auto``
uses a lazy grammar: free text until the model writes the call trigger, then the call's grammar
with the arguments under the tool's JSON schema (llguidance's structural tags, the same idea as
llama.cpp's grammar triggers). The token bitmask is applied with MLX ops, so the same code runs
on the CPU, CUDA and Metal (llguidance's own MLX helper needs Metal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llguidance
import llguidance.hf
import mlx.core as mx
import numpy as np
from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

from pensieve_core import InvalidRequestError, ToolSpec
from pensieve_mlx.markers import HERMES

# Calls are constrained in Qwen's (Hermes) format only, whatever the model's own.
CALL_OPEN, CALL_CLOSE = HERMES.call_start, HERMES.call_end


def strict_schema(schema: Any) -> Any:
    """Close object schemas that do not say otherwise (``additionalProperties: false``).

    JSON Schema leaves objects open by default, and small models then invent arguments no tool
    accepts; tool schemas list their arguments, so a constrained call keeps to them (as OpenAI's
    strict mode does). An explicit ``additionalProperties`` is kept as given.
    """
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {k: strict_schema(v) for k, v in schema.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


MAX_SCHEMA_DEPTH = 32
"""Deeper tool schemas are refused: compiling one of 400 levels takes llguidance 18 seconds."""


def _arguments_schema(tool: ToolSpec) -> dict[str, Any]:
    schema: dict[str, Any] = strict_schema(dict(tool.input_schema))
    return schema


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value``, counting no further than ``limit + 1``."""
    if limit < 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def _check(schema: Any, where: str, what: str) -> None:
    if _depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise InvalidRequestError(f"{where} is nested deeper than {MAX_SCHEMA_DEPTH} levels")
    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema))
    failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if failed:
        problem = "; ".join(messages) or "it cannot be compiled"
        raise InvalidRequestError(f"{where} cannot constrain {what}: {problem}")


def check_tool_schemas(tools: Sequence[ToolSpec]) -> None:
    """Refuse, naming the tool, a schema the grammar engine cannot turn into a constraint.

    Raises:
        InvalidRequestError: too deep, unsupported keywords (``not``), a bad ``pattern``,
            unsatisfiable bounds, or a ``$ref`` that does not resolve inside the schema.
    """
    for index, tool in enumerate(tools):
        where = f"tools[{index}] ({tool.name!r}): input_schema"
        if _depth(tool.input_schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
            raise InvalidRequestError(f"{where} is nested deeper than {MAX_SCHEMA_DEPTH} levels")
        _check(_arguments_schema(tool), where, "a tool call")


def answer_grammar(schema: Any) -> str:
    """The whole answer is one JSON value valid under ``schema`` (structured output).

    Raises:
        InvalidRequestError: the schema cannot be turned into a constraint.
    """
    closed = strict_schema(dict(schema))
    _check(closed, "the output format's schema", "the answer")
    return f"%llguidance {{}}\nstart: %json {json.dumps(closed)}\n"


def _call_prefix(tool: ToolSpec) -> str:
    """The text of a call before its arguments (the parser reads it back as JSON)."""
    return f'{{"name": {json.dumps(tool.name, ensure_ascii=False)}, "arguments": '


def _lark_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class CallMarkers:
    """The call markers as lark terms: quoted text, or ``<[id]>`` where one is a special token.

    Qwen2.5/3 (and Llama 3, Mistral...) have ``<tool_call>`` as one special token: written as text
    in the grammar, the model's own marker token would be refused (llguidance never lets a special
    token match text).
    """

    open: str = _lark_string(CALL_OPEN)
    close: str = _lark_string(CALL_CLOSE)

    @property
    def special(self) -> bool:
        """Whether the opener is a special token (a trigger token, not a lazy text match)."""
        return self.open.startswith("<[")


TEXT_MARKERS = CallMarkers()


def forced_call_grammar(tools: Sequence[ToolSpec], markers: CallMarkers = TEXT_MARKERS) -> str:
    """One ``<tool_call>`` block calling one of ``tools`` with schema-valid arguments.

    Each tool's arguments are their own ``%json`` rule, so ``$ref``s (``#/$defs/...``, what
    Pydantic generates) resolve against the tool's schema, as the client wrote it.
    """
    lines = [
        "%llguidance {}",
        f'start: {markers.open} "\\n" call "\\n" {markers.close}',
        "call: " + " | ".join(f"call_{i}" for i in range(len(tools))),
    ]
    for i, tool in enumerate(tools):
        lines.append(f'call_{i}: {_lark_string(_call_prefix(tool))} args_{i} "}}"')
        lines.append(f"args_{i}: %json {json.dumps(_arguments_schema(tool))}")
    return "\n".join(lines) + "\n"


def lazy_call_grammar(tools: Sequence[ToolSpec], markers: CallMarkers = TEXT_MARKERS) -> str:
    """Free text; once the model opens a call, the call must name a tool and fit its schema."""
    if not markers.special:
        tags = [
            llguidance.StructTag(
                trigger=CALL_OPEN,
                begin=f"{CALL_OPEN}\n{_call_prefix(t)}",
                grammar=_arguments_schema(t),
                end=f"}}\n{CALL_CLOSE}",
            )
            for t in tools
        ]
        return llguidance.StructTag.to_grammar(tags, assume_special=False)
    # What StructTag.to_grammar writes for a special-token trigger, with the closing marker a
    # token as well (its ``end`` can only be text). Text cannot hold a special token, so the
    # text before a call ends where the marker token comes.
    lines = [
        "%llguidance {}",
        "start: (" + " | ".join(f"tag_{i}" for i in range(len(tools))) + ")* tag_end",
        "tag_end: TAG_TEXT",
        r"TAG_TEXT: /(.|\n)*/",
    ]
    for i, tool in enumerate(tools):
        begin = _lark_string("\n" + _call_prefix(tool))
        schema = json.dumps(_arguments_schema(tool))
        lines.append(
            f'tag_{i}: TAG_TEXT {markers.open} {begin} %json {schema} "}}\\n" {markers.close}'
        )
    return "\n".join(lines) + "\n"


class GrammarFactory:
    """Builds matchers for one tokenizer (building the llguidance tokenizer is the slow part)."""

    def __init__(self, hf_tokenizer: Any, vocab_size: int) -> None:
        self._ll_tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
        self._vocab_size = vocab_size
        self.call_markers = CallMarkers(
            self._marker(hf_tokenizer, CALL_OPEN), self._marker(hf_tokenizer, CALL_CLOSE)
        )
        """How the call grammars must write the markers for this tokenizer."""

    def _marker(self, hf_tokenizer: Any, text: str) -> str:
        ids = hf_tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 and self._ll_tokenizer.is_special_token(ids[0]):
            return f"<[{ids[0]}]>"
        return _lark_string(text)

    def processor(self, lark: str) -> GrammarProcessor:
        """A fresh logits processor for one sequence."""
        grammar = llguidance.LLMatcher.grammar_from_lark(lark)
        matcher = llguidance.LLMatcher(self._ll_tokenizer, grammar)
        if matcher.is_error():
            raise InvalidRequestError(f"the tool schemas cannot be compiled: {matcher.get_error()}")
        return GrammarProcessor(matcher, self._ll_tokenizer.vocab_size, self._vocab_size)


class GrammarProcessor:
    """An mlx-lm logits processor: ``(context_tokens, logits) -> logits``."""

    def __init__(self, matcher: llguidance.LLMatcher, ll_vocab: int, model_vocab: int) -> None:
        self._matcher = matcher
        self._bitmask = allocate_token_bitmask(1, ll_vocab)
        self._ll_vocab = ll_vocab
        self._model_vocab = model_vocab
        self._started = False

    def __call__(self, context: mx.array, logits: mx.array) -> mx.array:
        """Mask ``logits`` to the tokens the grammar allows next."""
        # The first call sees the prompt's last token; later calls see the token sampled last.
        if self._started:
            self._matcher.consume_token(int(context[-1].tolist()))  # type: ignore[arg-type]
        self._started = True
        if self._matcher.is_error():
            return logits
        fill_next_token_bitmask(self._matcher, self._bitmask, 0)
        allowed = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")[: self._ll_vocab]
        if self._model_vocab > self._ll_vocab:
            allowed = np.concatenate(
                [allowed, np.zeros(self._model_vocab - self._ll_vocab, np.uint8)]
            )
        mask = mx.array(allowed[: self._model_vocab].astype(np.bool_))
        return mx.where(mask, logits, mx.array(-float("inf"), dtype=logits.dtype))
