"""``POST /v1/chat/completions`` (OpenAI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import OpenAIErrorDetail, OpenAIErrorResponse, chat_decoder, encoder
from pensieve_api.openai.chat import ChatCompletionChunk, Delta
from pensieve_core import Finished
from pensieve_server.drain import Drain, ShuttingDownError
from pensieve_server.errors import CLIENT_CLOSED, classify, decode_body
from pensieve_server.openai_io import FINISH, ChatAssembler, to_domain, usage
from pensieve_server.sse import data_frame
from pensieve_server.state import app_state, mark_logged, request_id
from pensieve_server.streaming import Generation, collect, log_generation, start_generation

log = structlog.get_logger()


async def chat_completions(request: Request) -> Response:
    """Run a chat completion, streaming or not."""
    state = app_state(request)
    body = decode_body(chat_decoder, await request.body())
    state.names.check(body.model)
    generation = await start_generation(
        state.engine,
        to_domain(
            body,
            request_id=request_id(request),
            default_max_tokens=state.config.openai_default_max_tokens,
        ),
    )
    state.requests_served += 1
    mark_logged(request)
    assembler = ChatAssembler(model=body.model)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _chunks(generation, assembler, include_usage, state.drain),
            media_type="text/event-stream",
        )
    finished = await collect(
        generation, assembler.add, model=body.model, receive=request.receive, drain=state.drain
    )
    if finished is None:
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it; the log says why
    return Response(encoder.encode(assembler.completion(finished)), media_type="application/json")


async def _chunks(
    generation: Generation, assembler: ChatAssembler, include_usage: bool, drain: Drain
) -> AsyncIterator[bytes]:
    yield data_frame(assembler.chunk(Delta(role="assistant", content="")))
    try:
        async for event in drain.stream(generation.stream):
            if isinstance(event, Finished):
                generation.finished = event
                yield data_frame(assembler.chunk(Delta(), FINISH[event.reason]))
                if include_usage:
                    last = ChatCompletionChunk(
                        id=assembler.id,
                        created=assembler.created,
                        model=assembler.model,
                        choices=[],
                        usage=usage(event),
                    )
                    yield data_frame(last)
            elif (chunk := assembler.chunk_for(event)) is not None:
                yield data_frame(chunk)
        yield b"data: [DONE]\n\n"
    except Exception as e:  # the stream has started: report in-band
        status, kind, message = classify(e)
        if status >= 500 and not isinstance(e, ShuttingDownError):
            log.error("stream_failed", exc_info=e)
        yield data_frame(OpenAIErrorResponse(error=OpenAIErrorDetail(message=message, type=kind)))
    finally:
        await generation.aclose()
        log_generation(generation, model=assembler.model, status=200, stream=True)
