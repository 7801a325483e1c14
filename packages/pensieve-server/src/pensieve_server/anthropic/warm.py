"""Warm start: recorded Anthropic requests prefilled into the prefix cache when the server starts.

A Claude Code session's first turn re-reads the whole system prompt and tools (about 12k tokens,
minutes on a CPU). Prefilled once at start (``max_tokens: 0``), their KV is in the cache (and, as
a stable boundary, on disk) before the first real request arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import structlog

from pensieve_api import messages_decoder
from pensieve_core import Engine, Finished, PensieveError
from pensieve_server.anthropic.requests import to_domain
from pensieve_server.served_models import ServedModels
from pensieve_server.state import RequestDefaults

log = structlog.get_logger()


def warm_body(recorded: Any) -> bytes:
    """A recorded request's Messages body, as a prefill (``max_tokens: 0``, not streamed).

    ``recorded`` is a body, or a recording holding one in ``body_json``.
    """
    body = recorded.get("body_json", recorded) if isinstance(recorded, dict) else recorded
    if not isinstance(body, dict):
        raise ValueError("not a Messages request body")
    return json.dumps({**body, "max_tokens": 0, "stream": False}).encode()


async def prefill(engine: Engine, defaults: RequestDefaults, body: bytes) -> Finished | None:
    """Run one Messages body as a prefill; its ``Finished`` event."""
    request = to_domain(messages_decoder.decode(body), defaults)
    async with await engine.start(request) as generation:
        async for event in generation.events():
            if isinstance(event, Finished):
                return event
    return None


async def warm_up(models: ServedModels, defaults: RequestDefaults, paths: Sequence[str]) -> None:
    """Prefill each recorded request in ``paths`` into the model its name routes to.

    A bad one is logged and skipped.
    """
    for path in paths:
        started = time.perf_counter()
        try:
            recorded = json.loads(await asyncio.to_thread(Path(path).read_text))
            body = warm_body(recorded)
            requested = messages_decoder.decode(body).model
            async with models.engine(requested) as engine:
                finished = await prefill(engine, defaults, body)
        except (OSError, ValueError, msgspec.DecodeError, PensieveError) as e:
            log.warning("warm_request_skipped", path=path, why=str(e))
            continue
        usage = finished.usage if finished is not None else None
        log.info(
            "warmed",
            path=path,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            cached_tokens=usage.cached_tokens if usage else 0,
            seconds=round(time.perf_counter() - started, 2),
        )
