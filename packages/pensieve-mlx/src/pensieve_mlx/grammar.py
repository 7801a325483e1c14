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
from typing import Any

import llguidance
import llguidance.hf
import mlx.core as mx
import numpy as np
from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

from pensieve_core import ToolSpec

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


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


def _arguments_schema(tool: ToolSpec) -> dict[str, Any]:
    schema: dict[str, Any] = strict_schema(dict(tool.input_schema))
    return schema


def _call_schema(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": _arguments_schema(tool)},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def forced_call_grammar(tools: Sequence[ToolSpec]) -> str:
    """One ``<tool_call>`` block calling one of ``tools`` with schema-valid arguments."""
    schema = (
        {"anyOf": [_call_schema(t) for t in tools]} if len(tools) > 1 else _call_schema(tools[0])
    )
    return (
        "%llguidance {}\n"
        f'start: "{CALL_OPEN}\\n" call "\\n{CALL_CLOSE}"\n'
        f"call: %json {json.dumps(schema)}\n"
    )


def lazy_call_grammar(tools: Sequence[ToolSpec]) -> str:
    """Free text; once the model opens a call, the call must name a tool and fit its schema."""
    tags = [
        llguidance.StructTag(
            trigger=CALL_OPEN,
            begin=f'{CALL_OPEN}\n{{"name": "{t.name}", "arguments": ',
            grammar=_arguments_schema(t),
            end=f"}}\n{CALL_CLOSE}",
        )
        for t in tools
    ]
    return llguidance.StructTag.to_grammar(tags, assume_special=False)


class GrammarFactory:
    """Builds matchers for one tokenizer (building the llguidance tokenizer is the slow part)."""

    def __init__(self, hf_tokenizer: Any, vocab_size: int) -> None:
        self._ll_tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
        self._vocab_size = vocab_size

    def processor(self, lark: str) -> GrammarProcessor:
        """A fresh logits processor for one sequence."""
        grammar = llguidance.LLMatcher.grammar_from_lark(lark)
        matcher = llguidance.LLMatcher(self._ll_tokenizer, grammar)
        if matcher.is_error():
            raise ValueError(f"invalid tool grammar: {matcher.get_error()}")
        return GrammarProcessor(matcher, self._ll_tokenizer.vocab_size, self._vocab_size)


class GrammarProcessor:
    """An mlx-lm logits processor: ``(context_tokens, logits) -> logits``."""

    def __init__(self, matcher: llguidance.LLMatcher, ll_vocab: int, model_vocab: int) -> None:
        self._matcher = matcher
        self._bitmask = allocate_token_bitmask(1, ll_vocab)
        self._ll_vocab = ll_vocab
        self._model_vocab = model_vocab
        self._started = False

    @property
    def failed(self) -> bool:
        """The model produced a token the grammar rejects (should not happen under the mask)."""
        return bool(self._matcher.is_error())

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
