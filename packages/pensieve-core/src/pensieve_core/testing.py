"""A scripted Engine for tests of the layers above the engine (server, CLI, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from pensieve_core.engine import GenerationHandle
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
    TextDelta,
    ThinkingDelta,
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
    thinking: Sequence[str] = ()
    """Reasoning pieces streamed before the reply."""
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

    async def start(self, request: GenerationRequest) -> FakeGeneration:
        """Check the request as an engine would, then replay the script."""
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
        return FakeGeneration(self, self._script(request, prompt), prompt)

    def _script(self, request: GenerationRequest, prompt: int) -> list[GenerationEvent | Exception]:
        script: list[GenerationEvent | Exception] = []
        produced = 0
        reason: FinishReason = "stop"
        for piece in self.thinking:
            script.append(ThinkingDelta(piece))
            produced += 1
        for piece in self.reply:
            if produced >= request.sampling.max_tokens:
                reason = "length"
                break
            script.append(TextDelta(piece))
            produced += 1
            if self.error is not None:
                return [*script, self.error]
        if self.tool_call is not None and reason == "stop":
            name, arguments = self.tool_call
            script += [
                ToolCallStart(index=0, name=name),
                ToolCallDelta(index=0, arguments=arguments),
                ToolCallEnd(index=0),
            ]
            produced += 1
            reason = "tool_use"
        usage = Usage(prompt_tokens=prompt, completion_tokens=produced)
        return [*script, Finished(reason=reason, usage=usage)]

    def stats(self) -> EngineStats:
        """Only the active count is live."""
        return EngineStats(active_sequences=self.active)

    async def aclose(self) -> None:
        """Nothing to release."""


class FakeGeneration(GenerationHandle):
    """The handle of one scripted generation.

    A class, so that a cancelled ``__anext__`` loses nothing, as ``Generation`` asks.
    """

    def __init__(
        self, engine: FakeEngine, script: list[GenerationEvent | Exception], prompt: int
    ) -> None:
        self._engine = engine
        self._script = script
        self._next = 0
        self._closed = False
        self._due: float | None = None
        self.prompt_tokens = prompt

    @property
    def cached_tokens(self) -> int:
        """The fake has no cache."""
        return 0

    @property
    def cache_write_tokens(self) -> int:
        """The fake has no cache."""
        return 0

    async def __anext__(self) -> GenerationEvent:
        if self._closed or self._next >= len(self._script):
            raise StopAsyncIteration
        item = self._script[self._next]
        if isinstance(item, TextDelta) and self._engine.delay_s:
            # A deadline kept across calls: a cancelled wait (a keep-alive timeout) resumes it.
            loop = asyncio.get_running_loop()
            if self._due is None:
                self._due = loop.time() + self._engine.delay_s
            await asyncio.sleep(max(0.0, self._due - loop.time()))
            self._due = None
            if self._closed:
                raise StopAsyncIteration
        self._next += 1
        if isinstance(item, Exception):
            self._end(finished=False)
            raise item
        if isinstance(item, Finished):
            self._end(finished=True)
        return item

    def _end(self, *, finished: bool) -> None:
        if not self._closed:
            self._closed = True
            self._engine.active -= 1
            if not finished:
                self._engine.cancelled += 1

    async def aclose(self) -> None:
        """Stop the script; counts as a cancellation unless it had finished."""
        self._end(finished=False)
