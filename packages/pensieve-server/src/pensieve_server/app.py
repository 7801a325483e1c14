"""``create_app``: the Starlette application over any ``pensieve_core.Engine`` (or several)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Scope

from pensieve_core import Engine
from pensieve_server import anthropic, console, openai
from pensieve_server.anthropic.warm import warm_up
from pensieve_server.config import ServerConfig
from pensieve_server.drain import Drain
from pensieve_server.info import health, prometheus_metrics
from pensieve_server.middleware import RequestContextMiddleware
from pensieve_server.model_admin import load_model, served_models, unload_model
from pensieve_server.observer import Observer
from pensieve_server.recent import RecentRequests
from pensieve_server.served_models import ModelSpec, ServedModels
from pensieve_server.state import AppState, RequestDefaults
from pensieve_server.wing import routes, wing_of

DEFAULT_WING = anthropic.WING
"""Answers what matches no route (and the server's own routes): Anthropic is the main dialect."""


def create_app(
    engine: Engine | ServedModels,
    config: ServerConfig | None = None,
    *,
    observer: Observer | None = None,
    close_engine: bool = False,
    thinking_key: bytes | None = None,
) -> Starlette:
    """Build the app.

    ``engine`` is the one model served, or ``ServedModels`` for several (routed by name, loaded
    on demand). Pass ``observer`` (a ``pensieve_metrics.MetricsRegistry``, with ``engine`` wrapped in an
    ``InstrumentedEngine`` on the same registry) to serve ``/metrics``; ``close_engine`` closes
    the engine when the app shuts down. ``thinking_key`` signs the thinking blocks the app writes
    (a stored key keeps them valid across restarts; without one a random key lasts this process).
    """
    config = config or ServerConfig()
    models = engine if isinstance(engine, ServedModels) else _one_model(engine, config)
    state = AppState(
        models=models,
        config=config,
        defaults=RequestDefaults.of(config),
        observer=observer,
        recent=RecentRequests(config.recent_requests),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Warmed in the background: the server answers (and queues requests) meanwhile.
        warming = (
            asyncio.create_task(warm_up(models, state.defaults, config.warm_requests))
            if config.warm_requests
            else None
        )
        reaper = asyncio.create_task(models.run_reaper())
        yield
        reaper.cancel()
        if warming is not None:
            warming.cancel()
        if close_engine:
            await models.aclose()

    app_routes: list[BaseRoute] = [
        *routes(
            DEFAULT_WING,
            [
                ("/", console.root, ["GET", "HEAD"]),
                ("/console/{name}", console.asset, ["GET", "HEAD"]),
                ("/health", health, ["GET"]),
            ],
            config,
            public=True,
        ),
        *routes(
            DEFAULT_WING,
            [("/metrics", prometheus_metrics, ["GET"])],
            config,
            public=config.metrics_public,
        ),
        *routes(
            DEFAULT_WING,
            [
                ("/v1/pensieve/models", served_models, ["GET"]),
                ("/v1/pensieve/models/{name:path}/load", load_model, ["POST"]),
                ("/v1/pensieve/models/{name:path}/unload", unload_model, ["POST"]),
                ("/v1/pensieve/stats", console.stats, ["GET"]),
                ("/v1/pensieve/requests", console.recent_requests, ["GET"]),
                ("/v1/pensieve/requests/{request_id}", console.recent_request, ["GET"]),
            ],
            config,
        ),
        *anthropic.anthropic_routes(config, anthropic.ThinkingSigner(thinking_key)),
        *openai.openai_routes(config),
    ]
    cors = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["request-id", "retry-after"],
                max_age=600,
            )
        ]
        if config.cors_origins
        else []
    )

    def answer(scope: Scope, error: Exception) -> Response:
        return wing_of(scope, DEFAULT_WING).failure(error)

    async def handle(request: Request, error: Exception) -> Response:
        # 404 and 405 arise in the router, before any wing's middleware.
        return answer(request.scope, error)

    app = Starlette(
        routes=app_routes,
        middleware=[
            Middleware(
                RequestContextMiddleware, answer=answer, observer=observer, recent=state.recent
            ),
            *cors,
        ],
        exception_handlers={404: handle, 405: handle},
        lifespan=lifespan,
    )
    app.state.pensieve = state
    return app


def _one_model(engine: Engine, config: ServerConfig) -> ServedModels:
    """One engine, always loaded: every name reaches it (``strict``: the known ones)."""
    name = engine.info.id
    return ServedModels(
        [ModelSpec(name, load=lambda: engine)],
        engines={name: engine},
        routes=(),
        aliases=config.model_aliases,
        strict=config.strict_model_names,
    )


def drain_of(app: Starlette) -> Drain:
    """The drain of an app made by ``create_app`` (pass it to ``serve``)."""
    state = app.state.pensieve
    assert isinstance(state, AppState)
    return state.drain
