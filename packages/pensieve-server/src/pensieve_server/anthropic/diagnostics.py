"""Why the prompt cache missed: each response's prompt fingerprint, compared with the next one's.

SDK 2.13's ``diagnostics: {"previous_message_id": "msg_..."}`` asks the server to compare this
request with the one that produced that message and to say, in ``diagnostics.cache_miss_reason``,
what changed first in prompt order (tools, then the system prompt, then the messages, which may
only grow). Every request is also compared with the previous one of its conversation (the latest
response whose first message it shares), so that misses are logged and counted whether or not
the client asked.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from pensieve_api.anthropic import responses as wire
from pensieve_core import GenerationRequest

_SLACK = 16
"""Tokens a turn may fail to reuse without counting as a miss (the re-rendered turn edges)."""


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a prompt's cacheable prefix is made of, in prompt order."""

    model: str
    tools: str
    system: str
    messages: tuple[str, ...]
    other: str
    """Other prompt-shaping parameters (thinking, tool choice)."""
    prompt_tokens: int = 0

    @classmethod
    def of(cls, model: str, request: GenerationRequest) -> Fingerprint:
        """The fingerprint of ``request`` for ``model`` (the name the client asked for)."""
        return cls(
            model=model,
            tools=_digest(request.tools),
            system=_digest(request.system),
            messages=tuple(_digest(m) for m in request.messages),
            other=_digest((request.thinking, request.tool_choice)),
        )


def _reason(
    previous: Fingerprint, current: Fingerprint, cached_tokens: int
) -> wire.CacheMissReason | None:
    missed = max(0, previous.prompt_tokens - cached_tokens)
    kind: wire.CacheMissType | None = None
    if previous.model != current.model:
        kind = "model_changed"
    elif previous.tools != current.tools:
        kind = "tools_changed"
    elif previous.system != current.system:
        kind = "system_changed"
    elif current.messages[: len(previous.messages)] != previous.messages:
        kind = "messages_changed"
    elif previous.other != current.other or missed > _SLACK:
        # The same prompt prefix, not reused: other parameters changed, or it was evicted.
        return wire.CacheMissReason(type="unavailable")
    if kind is None or missed <= _SLACK:
        # Nothing the previous prompt had was re-read (a deferred tool loaded later, say).
        return None
    return wire.CacheMissReason(type=kind, cache_missed_input_tokens=missed)


class CacheDiagnostics:
    """The fingerprints of recent responses, by message id (bounded)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, Fingerprint] = OrderedDict()

    def explain(
        self, current: Fingerprint, cached_tokens: int, previous_id: str | None
    ) -> wire.CacheMissReason | None:
        """Why ``current`` missed against ``previous_id`` (or its conversation's last turn)."""
        if previous_id is not None:
            previous = self._seen.get(previous_id)
            if previous is None:
                return wire.CacheMissReason(type="previous_message_not_found")
            return _reason(previous, current, cached_tokens)
        previous = self._last_of_conversation(current)
        return None if previous is None else _reason(previous, current, cached_tokens)

    def _last_of_conversation(self, current: Fingerprint) -> Fingerprint | None:
        for earlier in reversed(self._seen.values()):
            if earlier.messages[:1] == current.messages[:1]:
                return earlier
        return None

    def remember(self, message_id: str, fingerprint: Fingerprint, prompt_tokens: int) -> None:
        """Keep what ``message_id``'s prompt was made of."""
        self._seen[message_id] = Fingerprint(
            fingerprint.model,
            fingerprint.tools,
            fingerprint.system,
            fingerprint.messages,
            fingerprint.other,
            prompt_tokens,
        )
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
