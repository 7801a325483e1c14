"""``create_app``: the Starlette application over any ``pensieve_core.Engine``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from pensieve_core import Engine
from pensieve_metrics import MetricsRegistry
from pensieve_server.config import ServerConfig
from pensieve_server.drain import Drain
from pensieve_server.errors import exception_handlers
from pensieve_server.middleware import (
    PUBLIC_PATHS,
    AuthMiddleware,
    BodyLimitMiddleware,
    BrowserGuardMiddleware,
    RequestContextMiddleware,
)
from pensieve_server.model_names import ModelNames
from pensieve_server.routes.chat import chat_completions
from pensieve_server.routes.info import get_model, health, list_models, prometheus_metrics, root
from pensieve_server.routes.messages import count_tokens, create_message
from pensieve_server.state import AppState


def create_app(
    engine: Engine,
    config: ServerConfig | None = None,
    *,
    metrics: MetricsRegistry | None = None,
    close_engine: bool = False,
) -> Starlette:
    """Build the app.

    Pass ``metrics`` (with ``engine`` wrapped in an ``InstrumentedEngine`` on the same registry) to
    serve ``/metrics``; ``close_engine`` closes the engine when the app shuts down.
    """
    config = config or ServerConfig()
    state = AppState(
        engine=engine,
        config=config,
        names=ModelNames(engine.info.id, config.model_aliases, strict=config.strict_model_names),
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_engine:
            await engine.aclose()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", prometheus_metrics, methods=["GET"]),
        Route("/v1/messages", create_message, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    public = PUBLIC_PATHS | ({"/metrics"} if config.metrics_public else set())
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
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestContextMiddleware, metrics=metrics),
            *cors,
            Middleware(
                BrowserGuardMiddleware,
                allowed_hosts=config.served_hosts(),
                cors_origins=frozenset(config.cors_origins),
            ),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=config.max_body_bytes,
                timeout_s=config.body_timeout_s,
            ),
            Middleware(AuthMiddleware, api_keys=config.api_keys, public_paths=frozenset(public)),
        ],
        exception_handlers=exception_handlers(),  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.pensieve = state
    return app


def drain_of(app: Starlette) -> Drain:
    """The drain of an app made by ``create_app`` (pass it to ``serve``)."""
    state = app.state.pensieve
    assert isinstance(state, AppState)
    return state.drain
