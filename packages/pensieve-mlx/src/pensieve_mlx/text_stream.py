"""Route generated text into domain events: plain text, thinking, and tool calls."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pensieve_core import (
    GenerationEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
)
from pensieve_mlx.markers import HERMES, CallParser, ModelMarkers, ParsedCall

_NAME = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ARGS = re.compile(r'"(?:arguments|parameters|input)"\s*:\s*(?=[{\[])')


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:n]):
            return n
    return 0


def _json_object_end(text: str) -> int | None:
    """Index just past the JSON value that opens ``text`` (``{`` or ``[``), or None if unfinished."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


@dataclass(frozen=True, slots=True)
class _Format:
    """A way calls are written: their markers, and how a body reads (``None``: Hermes JSON)."""

    start: str
    end: str
    parse: CallParser | None


@dataclass(slots=True)
class _Call:
    """A tool call being read from between its markers."""

    format: _Format
    raw: str = ""
    index: int = -1
    """Set once the start event is out."""
    args_from: int = -1
    """Offset in ``raw`` where the arguments value starts."""
    args_sent: int = 0
    """How many characters of the arguments have been streamed."""
    args_done: bool = False


@dataclass(slots=True)
class TextRouter:
    """A streaming splitter for one response.

    ``feed`` takes detokenized text and returns events; ``finish`` flushes. Thinking goes to
    ``ThinkingDelta``; call blocks (the model's ``markers``) become tool-call events; a bare JSON
    response naming a known tool is recovered as a call. Malformed calls come back as text, never
    as an error.
    """

    tool_names: Sequence[str] = ()
    tools: Sequence[ToolSpec] = ()
    """The request's tools, for parsers that convert argument values by their schemas."""
    markers: ModelMarkers = HERMES
    thinking: bool = False
    """Start inside a thinking block (templates that open it in the prompt)."""
    stream_args: bool = False
    """Stream arguments as generated. Only safe under a grammar: without one, a call is held
    until complete so that malformed JSON can come back as text instead. The call grammar writes
    Hermes JSON only, so streaming covers that format; a model's own other format is still
    recognised (a lazy grammar lets it through) and parsed whole."""
    max_calls: int = 0
    """Calls the answer may make (``disable_parallel_tool_use``); 0: no limit."""
    _formats: tuple[_Format, ...] = field(init=False)
    _pending: str = ""
    _call: _Call | None = None
    _calls: int = 0
    _bare: str | None = None
    _seen_text: bool = False
    _events: list[GenerationEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        m = self.markers
        native = _Format(m.call_start, m.call_end, m.parse_call)
        hermes = _Format(HERMES.call_start, HERMES.call_end, None)
        if not self.stream_args or native.parse is None:
            self._formats = (native,)
        elif native.start == hermes.start:
            # The grammar owns this opener (e.g. Qwen3-Coder's `<tool_call>`) and writes JSON in it.
            self._formats = (hermes,)
        else:
            self._formats = (hermes, native)

    @property
    def calls(self) -> int:
        """Tool calls emitted so far."""
        return self._calls

    @property
    def calls_done(self) -> bool:
        """The answer has made all the calls it may (and none is open): it can end here."""
        return 0 < self.max_calls <= self._calls and self._call is None

    def feed(self, text: str) -> list[GenerationEvent]:
        """Route a piece of text."""
        self._events = []
        # A special token's text comes whole in one piece (the detokenizer adds whole tokens).
        for special in self.markers.hidden:
            text = text.replace(special, "")
        self._pending += text
        self._drain(final=False)
        return self._events

    def finish(self) -> list[GenerationEvent]:
        """Flush everything held back at the end of generation."""
        self._events = []
        self._drain(final=True)
        if self._call is not None:
            self._close_call(final=True)
        if self._bare is not None:
            self._resolve_bare(self._bare + self._pending)
            self._pending = ""
        if self._pending:
            self._emit_text(self._pending)
            self._pending = ""
        return self._events

    def _drain(self, *, final: bool) -> None:
        progressed = True
        while self._pending and progressed:
            if self._call is not None:
                progressed = self._drain_call()
            elif self._bare is not None:
                self._bare += self._pending
                self._pending = ""
                progressed = False
            elif self.thinking:
                progressed = self._drain_marked(self.markers.think_end, ThinkingDelta, final=final)
            else:
                progressed = self._drain_text(final=final)

    def _drain_marked(self, close: str, kind: type[ThinkingDelta], *, final: bool) -> bool:
        at = self._pending.find(close)
        if at != -1:
            if at:
                self._events.append(kind(self._pending[:at]))
            self._pending = self._pending[at + len(close) :]
            self.thinking = False
            return True
        keep = 0 if final else _partial_suffix(self._pending, close)
        emit = self._pending[: len(self._pending) - keep]
        if emit:
            self._events.append(kind(emit))
        self._pending = self._pending[len(emit) :]
        return False

    def _drain_text(self, *, final: bool) -> bool:
        if self.tool_names and not self._seen_text and self._calls == 0 and self._held(final):
            return False
        markers: list[tuple[str, _Format | None]] = [(self.markers.think_start, None)]
        if self.tool_names:
            markers += [(f.start, f) for f in self._formats]
        hits = [(self._pending.find(m), i) for i, (m, _) in enumerate(markers)]
        found = [h for h in hits if h[0] != -1]
        if found:
            at, i = min(found)
            marker, format_ = markers[i]
            self._emit_text(self._pending[:at])
            self._pending = self._pending[at + len(marker) :]
            if format_ is None:
                self.thinking = True
            else:
                self._call = _Call(format_)
            return True
        keep = 0 if final else max(_partial_suffix(self._pending, m) for m, _ in markers)
        self._emit_text(self._pending[: len(self._pending) - keep])
        self._pending = self._pending[len(self._pending) - keep :]
        return False

    def _held(self, final: bool) -> bool:
        """Hold the opening of a response that may be bare JSON (or only blank so far)."""
        stripped = self._pending.lstrip()
        if not stripped:
            return True
        if not stripped.startswith(("{", "[")):
            return False
        opens = [f.start for f in self._formats]
        if any(stripped.startswith(m) for m in opens):
            return False  # a call marker that starts like JSON (Mistral's `[TOOL_CALLS]`)
        if not final and any(m.startswith(stripped) for m in opens):
            return True
        self._bare, self._pending = self._pending, ""
        return True

    def _emit_text(self, text: str) -> None:
        if text:
            if text.strip():
                self._seen_text = True
            self._events.append(TextDelta(text))

    def _drain_call(self) -> bool:
        call = self._call
        assert call is not None
        call.raw += self._pending
        self._pending = ""
        end = call.format.end
        # Without an end marker the call runs to the end of the response.
        at = call.raw.find(end) if end else -1
        body = call.raw if at == -1 else call.raw[:at]
        if call.index < 0 and self.stream_args and call.format.parse is None:
            self._try_start(call, body)
        if call.index >= 0 and not call.args_done:
            self._stream_args(call, body)
        if at != -1:
            self._pending = call.raw[at + len(end) :]
            call.raw = body
            self._close_call(final=False)
            return True
        return False

    def _try_start(self, call: _Call, body: str) -> None:
        name, args = _NAME.search(body), _ARGS.search(body)
        if name and args and name.start() < args.start() and name.group(1) in self.tool_names:
            call.index = self._calls
            self._calls += 1
            call.args_from = args.end()
            self._events.append(ToolCallStart(call.index, name.group(1)))

    def _stream_args(self, call: _Call, body: str) -> None:
        value = body[call.args_from :]
        end = _json_object_end(value)
        upto = len(value) if end is None else end
        if upto > call.args_sent:
            self._events.append(ToolCallDelta(call.index, value[call.args_sent : upto]))
            call.args_sent = upto
        call.args_done = end is not None

    def _close_call(self, *, final: bool) -> None:
        call = self._call
        assert call is not None
        self._call = None
        if call.index >= 0:
            self._events.append(ToolCallEnd(call.index))
            return
        if not self._emit_calls(self._read_body(call.format, call.raw)):
            suffix = "" if final else call.format.end
            self._emit_text(call.format.start + call.raw + suffix)

    def _read_body(self, format_: _Format, body: str) -> list[ParsedCall] | None:
        if format_.parse is None:
            return _json_calls(body)
        try:
            return format_.parse(body, self.tools)
        except Exception:
            # mlx-lm's parsers read model output and fail in many ways (ValueError, IndexError,
            # SyntaxError...); a call that does not parse comes back as text, never as an error.
            return None

    def _resolve_bare(self, text: str) -> None:
        self._bare = None
        if not self._emit_calls(_json_calls(text)):
            self._emit_text(text)

    def _emit_calls(self, calls: list[ParsedCall] | None) -> bool:
        """Emit whole calls; False (and nothing emitted) unless each names a known tool."""
        if not calls or any(name not in self.tool_names for name, _ in calls):
            return False
        if self.max_calls:
            calls = calls[: max(0, self.max_calls - self._calls)]
        for name, args in calls:
            index = self._calls
            self._calls += 1
            self._events += [
                ToolCallStart(index, name),
                ToolCallDelta(index, json.dumps(args, ensure_ascii=False)),
                ToolCallEnd(index),
            ]
        return True


def _json_calls(text: str) -> list[ParsedCall] | None:
    """Calls written as Hermes JSON (one object or a list), or None if ``text`` is not that."""
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    calls: list[ParsedCall] = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        args = item.get("arguments", item.get("parameters", item.get("input", {})))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return None
        if not isinstance(args, dict):
            return None
        calls.append((item["name"], args))
    return calls
