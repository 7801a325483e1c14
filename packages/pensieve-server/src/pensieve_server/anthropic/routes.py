"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import count_tokens_decoder, encoder, messages_decoder
from pensieve_api.anthropic.responses import CountTokensResponse
from pensieve_server.anthropic.requests import to_domain
from pensieve_server.anthropic.responses import MessageBuilder, StreamEncoder
from pensieve_server.errors import CLIENT_CLOSED, decode_body
from pensieve_server.middleware import mark_logged
from pensieve_server.state import app_state
from pensieve_server.streaming import collect, stream

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def create_message(request: Request) -> Response:
    """Run a Messages request, streaming or not."""
    state = app_state(request)
    body = decode_body(messages_decoder, await request.body())
    state.names.check(body.model)
    generation = await state.engine.start(to_domain(body, state.defaults))
    state.requests_served += 1
    mark_logged(request.scope)
    if body.stream:
        codec = StreamEncoder(model=body.model, prompt_tokens=generation.prompt_tokens)
        return StreamingResponse(
            stream(
                generation,
                codec,
                model=body.model,
                ping_s=state.config.ping_interval_s,
                drain=state.drain,
            ),
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


async def count_tokens(request: Request) -> Response:
    """Count the prompt's tokens exactly as generation would render it."""
    state = app_state(request)
    body = decode_body(count_tokens_decoder, await request.body())
    state.names.check(body.model)
    count = await state.engine.count_tokens(to_domain(body, state.defaults))
    return Response(
        encoder.encode(CountTokensResponse(input_tokens=count)), media_type="application/json"
    )
