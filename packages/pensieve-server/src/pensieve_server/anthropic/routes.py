"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pensieve_api import count_tokens_decoder, encoder, messages_decoder
from pensieve_api.anthropic import requests as wire
from pensieve_api.anthropic.responses import CountTokensResponse, Diagnostics
from pensieve_core import Generation, GenerationRequest, Usage
from pensieve_server.anthropic.diagnostics import CacheDiagnostics, Fingerprint
from pensieve_server.anthropic.requests import asks_for_caching, skipped_tools, to_domain
from pensieve_server.anthropic.responses import MessageBuilder, StreamEncoder, message_id
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
        self._diagnostics = CacheDiagnostics()
        self._skipped: set[str] = set()
        """Server tools already reported as skipped (each is logged once, not every turn)."""

    async def create_message(self, request: Request) -> Response:
        """Run a Messages request, streaming or not."""
        state = app_state(request)
        body = decode_body(messages_decoder, await request.body())
        tracked = state.recent.track(request, body, model=body.model, stream=body.stream)
        translated = self._translate(body, state)
        started: list[Generation] = []

        async def start() -> Generation:
            async with state.models.engine(body.model) as engine:
                started.append(await engine.start(translated))
            state.requests_served += 1
            return started[0]

        # A stream for a model still to load opens at once and pings while it loads; the
        # others start here, so that a refusal is the HTTP error the client expects.
        deferred = body.stream and not state.models.ready(body.model)
        if not deferred:
            await start()
        mark_logged(request.scope)
        reply_id = message_id()
        fingerprint = Fingerprint.of(body.model, translated)

        def diagnose() -> Diagnostics | None:
            diagnostics, reason = self._diagnose(body, state, reply_id, fingerprint, started[0])
            tracked.cache_miss_reason = reason
            return diagnostics

        if body.stream:
            codec = StreamEncoder(
                model=body.model,
                prompt_usage=lambda: Usage(
                    started[0].prompt_tokens,
                    1,
                    started[0].cached_tokens,
                    started[0].cache_write_tokens,
                ),
                signer=self._signer,
                writes=asks_for_caching(body),
                id=reply_id,
                diagnose=diagnose,
            )
            return StreamingResponse(
                stream(
                    start if deferred else started[0],
                    codec,
                    model=body.model,
                    ping_s=state.config.ping_interval_s,
                    drain=state.drain,
                    tracked=tracked,
                ),
                media_type="text/event-stream",
                headers=SSE_HEADERS,
            )
        builder = MessageBuilder(
            model=body.model,
            signer=self._signer,
            writes=asks_for_caching(body),
            id=reply_id,
            diagnose=diagnose,
        )
        finished = await collect(
            started[0],
            builder.add,
            model=body.model,
            receive=request.receive,
            drain=state.drain,
            tracked=tracked,
        )
        if finished is None:
            return Response(status_code=CLIENT_CLOSED)  # nobody reads it; the log says why
        return Response(encoder.encode(builder.build(finished)), media_type="application/json")

    async def count_tokens(self, request: Request) -> Response:
        """Count the prompt's tokens exactly as generation would render it."""
        state = app_state(request)
        body = decode_body(count_tokens_decoder, await request.body())
        async with state.models.engine(body.model) as engine:
            count = await engine.count_tokens(self._translate(body, state))
        return Response(
            encoder.encode(CountTokensResponse(input_tokens=count)), media_type="application/json"
        )

    def _diagnose(
        self,
        body: wire.MessagesRequest,
        state: AppState,
        reply_id: str,
        fingerprint: Fingerprint,
        generation: Generation,
    ) -> tuple[Diagnostics | None, str | None]:
        """Explain a cache miss, then keep this prompt's fingerprint for the next requests.

        The reason is logged and counted always, and answered when the request asked; its type
        comes back beside the answer (for the console's recent requests).
        """
        asked = body.diagnostics
        previous = asked.previous_message_id if asked is not None else None
        # Against the named response when there is one, else the conversation's last turn
        # (logged and counted, and answered only when named: a null id opts in on turn one).
        reason = self._diagnostics.explain(fingerprint, generation.cached_tokens, previous)
        self._diagnostics.remember(reply_id, fingerprint, generation.prompt_tokens)
        if reason is not None:
            log.info(
                "cache_miss",
                reason=reason.type,
                missed_tokens=reason.cache_missed_input_tokens,
                cached_tokens=generation.cached_tokens,
            )
            if state.observer is not None:
                state.observer.observe_cache_miss(reason.type)
        kind = reason.type if reason is not None else None
        if asked is None:
            return None, kind
        return Diagnostics(cache_miss_reason=reason if previous is not None else None), kind

    def _translate(
        self, body: wire.MessagesRequest | wire.CountTokensRequest, state: AppState
    ) -> GenerationRequest:
        new = [name for name in skipped_tools(body) if name not in self._skipped]
        if new:
            self._skipped.update(new)
            log.info("server_tools_skipped", tools=new, why="they run on Anthropic's side only")
        return to_domain(body, state.defaults, self._signer.verify)
