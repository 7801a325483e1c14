"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import ErrorDetail, ErrorResponse, count_tokens_decoder, encoder, messages_decoder
from pensieve_api.anthropic.responses import CountTokensResponse, PingEvent
from pensieve_core import Finished
from pensieve_server.anthropic_in import to_domain
from pensieve_server.anthropic_out import MessageBuilder, StreamEncoder
from pensieve_server.drain import ShuttingDownError
from pensieve_server.errors import CLIENT_CLOSED, classify, decode_body
from pensieve_server.sse import PING, frame, with_keepalive
from pensieve_server.state import AppState, app_state, mark_logged, request_id
from pensieve_server.streaming import Generation, collect, log_generation, start_generation

log = structlog.get_logger()

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def create_message(request: Request) -> Response:
    """Run a Messages request, streaming or not."""
    state = app_state(request)
    body = decode_body(messages_decoder, await request.body())
    state.names.check(body.model)
    domain = to_domain(
        body, request_id=request_id(request), default_temperature=state.config.default_temperature
    )
    generation = await start_generation(state.engine, domain)
    state.requests_served += 1
    mark_logged(request)
    if body.stream:
        return StreamingResponse(
            _sse(generation, body.model, state),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    builder = MessageBuilder(model=body.model)
    finished = await collect(
        generation, builder.add, model=body.model, receive=request.receive, drain=state.drain
    )
    if finished is None:
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it; the log says why
    return Response(encoder.encode(builder.build(finished)), media_type="application/json")


async def _sse(generation: Generation, model: str, state: AppState) -> AsyncIterator[bytes]:
    encoder_ = StreamEncoder(model=model, prompt_tokens=generation.prompt_tokens)
    for event in encoder_.start():
        yield frame(event.__struct_config__.tag, event)  # type: ignore[arg-type]
    events = state.drain.stream(generation.stream)
    try:
        async for item in with_keepalive(events, state.config.ping_interval_s):
            if item is PING:
                yield frame("ping", PingEvent())
                continue
            if isinstance(item, Finished):
                generation.finished = item
            for event in encoder_.feed(item):  # type: ignore[arg-type]
                yield frame(event.__struct_config__.tag, event)  # type: ignore[arg-type]
    except Exception as e:  # the stream has started: report in-band, as Anthropic does
        status, kind, message = classify(e)
        if status >= 500 and not isinstance(e, ShuttingDownError):
            log.error("stream_failed", exc_info=e)
        yield frame("error", ErrorResponse(error=ErrorDetail(type=kind, message=message)))
    finally:
        await generation.aclose()
        log_generation(generation, model=model, status=200, stream=True)


async def count_tokens(request: Request) -> Response:
    """Count the prompt's tokens exactly as generation would render it."""
    state = app_state(request)
    body = decode_body(count_tokens_decoder, await request.body())
    state.names.check(body.model)
    count = await state.engine.count_tokens(to_domain(body, request_id=request_id(request)))
    return Response(
        encoder.encode(CountTokensResponse(input_tokens=count)), media_type="application/json"
    )
