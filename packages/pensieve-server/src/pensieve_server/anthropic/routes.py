"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import count_tokens_decoder, encoder, messages_decoder
from pensieve_api.anthropic import requests as wire
from pensieve_api.anthropic.responses import CountTokensResponse
from pensieve_core import GenerationRequest, Usage
from pensieve_server.anthropic.requests import asks_for_caching, skipped_tools, to_domain
from pensieve_server.anthropic.responses import MessageBuilder, StreamEncoder
from pensieve_server.anthropic.signatures import ThinkingSigner
from pensieve_server.errors import CLIENT_CLOSED, decode_body
from pensieve_server.middleware import mark_logged
from pensieve_server.state import AppState, app_state
from pensieve_server.streaming import collect, stream

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
log = structlog.get_logger()


class MessagesEndpoints:
    """The Messages routes, with what they keep between requests."""

    def __init__(self, signer: ThinkingSigner) -> None:
        self._signer = signer
        self._skipped: set[str] = set()
        """Server tools already reported as skipped (each is logged once, not every turn)."""

    async def create_message(self, request: Request) -> Response:
        """Run a Messages request, streaming or not."""
        state = app_state(request)
        body = decode_body(messages_decoder, await request.body())
        generation = await state.engine.start(self._translate(body, state))
        state.requests_served += 1
        mark_logged(request.scope)
        if body.stream:
            codec = StreamEncoder(
                model=body.model,
                prompt_usage=lambda: Usage(
                    generation.prompt_tokens,
                    1,
                    generation.cached_tokens,
                    generation.cache_write_tokens,
                ),
                signer=self._signer,
                writes=asks_for_caching(body),
            )
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
        builder = MessageBuilder(
            model=body.model, signer=self._signer, writes=asks_for_caching(body)
        )
        finished = await collect(
            generation, builder.add, model=body.model, receive=request.receive, drain=state.drain
        )
        if finished is None:
            return Response(status_code=CLIENT_CLOSED)  # nobody reads it; the log says why
        return Response(encoder.encode(builder.build(finished)), media_type="application/json")

    async def count_tokens(self, request: Request) -> Response:
        """Count the prompt's tokens exactly as generation would render it."""
        state = app_state(request)
        body = decode_body(count_tokens_decoder, await request.body())
        count = await state.engine.count_tokens(self._translate(body, state))
        return Response(
            encoder.encode(CountTokensResponse(input_tokens=count)), media_type="application/json"
        )

    def _translate(
        self, body: wire.MessagesRequest | wire.CountTokensRequest, state: AppState
    ) -> GenerationRequest:
        state.names.check(body.model)
        new = [name for name in skipped_tools(body) if name not in self._skipped]
        if new:
            self._skipped.update(new)
            log.info("server_tools_skipped", tools=new, why="they run on Anthropic's side only")
        return to_domain(body, state.defaults, self._signer.verify)
