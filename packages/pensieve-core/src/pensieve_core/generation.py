"""Generation domain types: the request an engine runs and the events it streams back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pensieve_core.messages import Message, ToolChoice, ToolSpec

FinishReason: TypeAlias = Literal[
    "stop", "length", "context_window", "stop_sequence", "tool_use", "cancelled"
]
"""``length``: the request's max_tokens ran out; ``context_window``: the model's window did."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick tokens. ``temperature == 0`` means greedy."""

    max_tokens: int = 1024
    """Upper bound on generated tokens; engines clamp it to what the context window leaves.
    0 only prefills (the prompt lands in the prefix cache) and generates nothing."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k."""
    stop: tuple[str, ...] = ()
    """Stop sequences: generation ends before any of them, which is never emitted."""
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything an engine needs to run one chat completion."""

    messages: tuple[Message, ...]
    system: str = ""
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    thinking: bool | None = None
    """Ask for reasoning (True), ask against it (False), or leave it to the model (None)."""
    thinking_budget: int = 0
    """Most tokens the reasoning part may take before the engine closes it; 0: no cap."""
    response_schema: Mapping[str, Any] | None = None
    """A JSON schema the answer must satisfy (structured output); ``None``: free text."""
    answer_prefix: str = ""
    """Text the answer must begin with (generated under constraint, so it is part of the answer)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the prefix cache (included in ``prompt_tokens``)."""
    cache_write_tokens: int = 0
    """Prompt tokens newly kept in the prefix cache (included in ``prompt_tokens``)."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Measurements of one request, taken by the engine."""

    queued_s: float = 0.0
    """Time waiting for a slot."""
    ttft_s: float = 0.0
    """Time from submission to the first generated token."""
    decode_tokens_per_s: float = 0.0
    prefill_tokens_per_s: float = 0.0
    peak_memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """Prefill progress of a long prompt; lets servers keep clients alive."""

    processed: int
    total: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Generated text."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """Generated reasoning text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model opened a tool call; ``index`` counts calls within the response.

    Calls carry no id: each wire dialect names them its own way.
    """

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of the call's JSON arguments, in generation order."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """The call is complete; its arguments so far form a JSON object."""

    index: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of every stream."""

    reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None
    timings: Timings = field(default_factory=Timings)


GenerationEvent: TypeAlias = (
    PromptProgress
    | TextDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Finished
)
