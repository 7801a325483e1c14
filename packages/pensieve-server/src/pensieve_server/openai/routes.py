"""``POST /v1/chat/completions`` (OpenAI)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import chat_decoder, encoder
from pensieve_core import Generation
from pensieve_server.errors import CLIENT_CLOSED, decode_body
from pensieve_server.middleware import mark_logged
from pensieve_server.openai.translate import ChatAssembler, ChunkCodec, to_domain
from pensieve_server.state import app_state
from pensieve_server.streaming import collect, stream


async def chat_completions(request: Request) -> Response:
    """Run a chat completion, streaming or not."""
    state = app_state(request)
    body = decode_body(chat_decoder, await request.body())
    tracked = state.recent.track(request, body, model=body.model, stream=body.stream)
    translated = to_domain(body, state.defaults)

    async def start() -> Generation:
        async with state.models.engine(body.model) as engine:
            generation = await engine.start(translated)
        state.requests_served += 1
        return generation

    assembler = ChatAssembler(model=body.model)
    if body.stream:
        # A stream for a model still to load opens at once and pings while it loads.
        source = start if not state.models.ready(body.model) else await start()
        mark_logged(request.scope)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            stream(
                source,
                ChunkCodec(assembler, include_usage=include_usage),
                model=body.model,
                ping_s=state.config.ping_interval_s,
                drain=state.drain,
                tracked=tracked,
            ),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
    generation = await start()
    mark_logged(request.scope)
    finished = await collect(
        generation,
        assembler.add,
        model=body.model,
        receive=request.receive,
        drain=state.drain,
        tracked=tracked,
    )
    if finished is None:
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it; the log says why
    return Response(encoder.encode(assembler.completion(finished)), media_type="application/json")
