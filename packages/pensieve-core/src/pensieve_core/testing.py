"""A scripted Engine for tests of the layers above the engine (server, CLI, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from pensieve_core.errors import (
    ContextLengthExceededError,
    OverloadedError,
    UnsupportedContentError,
)
from pensieve_core.generation import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    PromptProgress,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from pensieve_core.messages import ImagePart, TextPart, ToolResultPart
from pensieve_core.models import EngineStats, ModelInfo


@dataclass(slots=True)
class FakeEngine:
    """An Engine that replays a script instead of running a model.

    Token counting is one token per whitespace-separated word of the rendered prompt, so tests
    can predict counts. Set ``tool_call`` to answer with a call, ``error`` to fail mid-stream,
    ``overloaded`` to refuse at once.
    """

    reply: Sequence[str] = ("Hello", " from", " Pensieve.")
    tool_call: tuple[str, str] | None = None
    """``(name, json_arguments)`` to answer with a tool call after the text."""
    delay_s: float = 0.0
    """Sleep between events, to test streaming and disconnects."""
    error: Exception | None = None
    """Raised after the first text delta."""
    overloaded: bool = False
    model_info: ModelInfo = field(
        default_factory=lambda: ModelInfo(
            id="fake-model", context_length=4096, max_output_tokens=1024
        )
    )
    requests: list[GenerationRequest] = field(default_factory=list)
    """Every request received, for assertions."""
    cancelled: int = 0
    """Streams closed before they finished."""
    active: int = 0

    @property
    def info(self) -> ModelInfo:
        """The fake model."""
        return self.model_info

    async def count_tokens(self, request: GenerationRequest) -> int:
        """One token per word of system, messages and tool names."""
        words = len(request.system.split()) + sum(len(t.name.split()) for t in request.tools)
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, TextPart):
                    words += len(part.text.split())
                elif isinstance(part, ToolResultPart):
                    words += len(part.content.split())
        return words + 2 * len(request.messages)

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        """Replay the script."""
        return self._run(request)

    async def _run(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        if self.overloaded:
            raise OverloadedError("the fake engine is overloaded")
        has_image = any(isinstance(p, ImagePart) for m in request.messages for p in m.parts)
        if has_image and not self.model_info.supports_vision:
            raise UnsupportedContentError(
                "this model has no vision: image content is not supported"
            )
        prompt = await self.count_tokens(request)
        if prompt + 1 > self.model_info.context_length:
            raise ContextLengthExceededError(prompt, self.model_info.context_length)
        self.requests.append(request)
        self.active += 1
        finished = False
        try:
            yield PromptProgress(processed=prompt, total=prompt)
            produced = 0
            reason: FinishReason = "stop"
            for piece in self.reply:
                if produced >= request.sampling.max_tokens:
                    reason = "length"
                    break
                await asyncio.sleep(self.delay_s)
                yield TextDelta(piece)
                produced += 1
                if self.error is not None:
                    raise self.error
            if self.tool_call is not None and reason == "stop":
                name, arguments = self.tool_call
                yield ToolCallStart(index=0, id="toolu_fake0", name=name)
                yield ToolCallDelta(index=0, arguments=arguments)
                yield ToolCallEnd(index=0)
                produced += 1
                reason = "tool_use"
            finished = True
            yield Finished(
                reason=reason, usage=Usage(prompt_tokens=prompt, completion_tokens=produced)
            )
        finally:
            self.active -= 1
            if not finished:
                self.cancelled += 1

    def stats(self) -> EngineStats:
        """Only the active count is live."""
        return EngineStats(active_sequences=self.active)

    async def aclose(self) -> None:
        """Nothing to release."""
