"""Route generated text into domain events: plain text, thinking, and tool calls."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
_FENCE = "```"
_CALL_FENCES = ("", "json", "tool_call")
"""Info strings of a fenced block that may hold a call (models that ignore their template)."""


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:n]):
            return n
    return 0


def _scan_json(text: str, fence: str = "") -> tuple[str, int]:
    """Scan the JSON value that opens ``text`` (``{`` or ``[``).

    ``("json", i)``: the value ends at ``i``; ``("fence", i)``: ``fence`` (when given) starts at
    ``i`` outside any string before the value closed (a code block, not JSON); ``("open", -1)``:
    neither yet.
    """
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
                return "json", i + 1
        elif fence and text.startswith(fence, i):
            return "fence", i
    return "open", -1


def _json_object_end(text: str) -> int | None:
    """Index just past the JSON value that opens ``text`` (``{`` or ``[``), or None if unfinished."""
    kind, end = _scan_json(text)
    return end if kind == "json" else None


def _fenced_json_end(text: str) -> tuple[str, int]:
    """Scan a fenced block's body that opens with ``{`` or ``[`` (see ``_scan_json``)."""
    return _scan_json(text, _FENCE)


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _has_type(value: object, kind: object) -> bool:
    if not isinstance(kind, str):
        return True
    if kind == "integer":
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if kind == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    expected = _TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def _fits(value: object, schema: object) -> bool:
    """Whether ``value`` validates against the JSON schema ``schema``, for recovered calls.

    ``jsonschema`` is not a dependency (nor installed), and llguidance would need the arguments
    tokenized and fed to a matcher; a recovered call only needs the common keywords checked (type,
    enum, const, required, properties, additionalProperties, items, anyOf/oneOf/allOf). Other
    keywords (``$ref``, formats, bounds) are not checked: they pass.
    """
    if not isinstance(schema, Mapping):
        return schema is not False
    return _fits_value(value, schema) and _fits_parts(value, schema)


def _fits_value(value: object, schema: Mapping[str, Any]) -> bool:
    """The keywords about the value itself: type, enum, const, anyOf/oneOf/allOf."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if kinds and not any(_has_type(value, k) for k in kinds):
        return False
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and not any(_fits(value, o) for o in options):
            return False
    options = schema.get("allOf")
    return not isinstance(options, list) or all(_fits(value, o) for o in options)


def _fits_parts(value: object, schema: Mapping[str, Any]) -> bool:
    """The keywords about an object's properties or an array's items."""
    if isinstance(value, list):
        items = schema.get("items")
        return not isinstance(items, Mapping) or all(_fits(v, items) for v in value)
    if not isinstance(value, dict):
        return True
    required = schema.get("required", [])
    if isinstance(required, list) and any(k not in value for k in required):
        return False
    properties = schema.get("properties", {})
    properties = properties if isinstance(properties, Mapping) else {}
    extra = schema.get("additionalProperties", True)
    return all(_fits(v, properties.get(k, extra)) for k, v in value.items())


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
    response, or a fenced JSON block (```` ```json ````, ```` ``` ````, ```` ```tool_call ````),
    naming a known tool with arguments that fit its schema is recovered as a call. Malformed calls
    come back as text, never as an error.
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
    _fence: str | None = None
    """A fenced block that may be a call, held from its opening fence until it closes."""
    _in_code: bool = False
    """Inside a fenced block that is text: its next fence closes it (and opens nothing)."""
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
        while progressed and (self._pending or (final and self._fence is not None)):
            if self._call is not None:
                progressed = self._drain_call()
            elif self._fence is not None:
                progressed = self._drain_fence(final=final)
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
            markers.append((_FENCE, None))
        hits = [(self._pending.find(m), i) for i, (m, _) in enumerate(markers)]
        found = [h for h in hits if h[0] != -1]
        if found:
            at, i = min(found)
            marker, format_ = markers[i]
            if marker == _FENCE and self._in_code:
                self._in_code = False  # closes a block of text
                self._emit_text(self._pending[: at + len(marker)])
                self._pending = self._pending[at + len(marker) :]
                return True
            self._emit_text(self._pending[:at])
            self._pending = self._pending[at + len(marker) :]
            if marker == _FENCE:
                self._fence = marker
            elif format_ is None:
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

    def _drain_fence(self, *, final: bool) -> bool:
        """Read a held fenced block: a call once it closes, or text as soon as it cannot be one."""
        assert self._fence is not None
        raw, self._pending = self._fence + self._pending, ""
        self._fence = raw
        newline = raw.find("\n", len(_FENCE))
        header = raw[len(_FENCE) : len(raw) if newline == -1 else newline].strip().lower()
        if newline == -1:
            if not final and any(f.startswith(header) for f in _CALL_FENCES) and len(raw) < 64:
                return False
            return self._fence_is_text()
        if header not in _CALL_FENCES:
            return self._fence_is_text()
        body = raw[newline + 1 :]
        lead = body.lstrip()
        if not lead:
            return False if not final else self._fence_is_text()
        if lead[0] not in "{[":
            return self._fence_is_text()
        state, end = _fenced_json_end(lead)
        if state == "fence":
            return self._fence_is_text()
        if state == "open":
            return False if not final else self._fence_is_text()
        rest = lead[end:].lstrip()
        if rest.startswith(_FENCE) or (final and not rest):
            # Closed (or the response ended right after the value): a call, or the original text.
            if not self._emit_calls(_json_calls(lead[:end]), validate=True):
                return self._fence_is_text()
            self._fence = None
            self._pending = rest[len(_FENCE) :]
            return True
        if not final and _FENCE.startswith(rest):
            return False
        return self._fence_is_text()

    def _fence_is_text(self) -> bool:
        """The held block is no call: its fence is text, and the rest is read as the block's text."""
        raw = self._fence
        assert raw is not None
        self._fence = None
        self._in_code = True
        self._emit_text(_FENCE)
        self._pending = raw[len(_FENCE) :] + self._pending
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
        if not self._emit_calls(_json_calls(text), validate=True):
            self._emit_text(text)

    def _emit_calls(self, calls: list[ParsedCall] | None, *, validate: bool = False) -> bool:
        """Emit whole calls; False (and nothing emitted) unless each names a known tool.

        ``validate``: a call recovered from outside the model's markers (bare or fenced JSON) must
        also have arguments that fit its tool's input schema, or it is text.
        """
        if not calls or any(name not in self.tool_names for name, _ in calls):
            return False
        if validate:
            schemas = {t.name: t.input_schema for t in self.tools}
            if not all(_fits(args, schemas.get(name, {})) for name, args in calls):
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
