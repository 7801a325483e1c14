"""``Wing``: one wire dialect's edge of the server, and the routes built with it.

A wing owns how its errors look (Anthropic's ``{"type": "error", ...}`` or OpenAI's
``{"error": {...}}``), what its 401 says, and the middleware in front of its routes: the browser
guard, the body limit, auth, and the error handler. Starlette's per-route middleware does the
mounting; a ``Mount`` cannot hold both ``/v1/messages`` and ``/v1/messages/count_tokens``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from pensieve_core import OverloadedError
from pensieve_server.config import ServerConfig
from pensieve_server.errors import ErrorKind, classify, retry_headers
from pensieve_server.middleware import AuthMiddleware, BodyLimitMiddleware, BrowserGuardMiddleware

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Wing:
    """A dialect's error shape and 401 wording."""

    name: str
    error_body: Callable[[ErrorKind, str], bytes]
    """The JSON body of an error."""
    missing_key: str
    """The 401 message when a request sends no key."""

    def error(self, status: int, kind: ErrorKind, message: str) -> Response:
        """An error response in this dialect."""
        return Response(
            self.error_body(kind, message),
            status_code=status,
            media_type="application/json",
            headers=retry_headers(status),
        )

    def failure(self, error: BaseException) -> Response:
        """The response for ``error`` (logged once when it is the server's fault)."""
        status, kind, message = classify(error)
        if status >= 500 and not isinstance(error, OverloadedError):
            structlog.get_logger().error("request_failed", exc_info=error)
        return self.error(status, kind, message)

    async def handle(self, request: Request, error: Exception) -> Response:
        """Starlette exception handler."""
        return self.failure(error)


class WingRoute(Route):
    """A route that knows its wing (for errors raised before its middleware: 405, 500)."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        wing: Wing,
        methods: Sequence[str],
        middleware: Sequence[Middleware],
    ) -> None:
        super().__init__(path, endpoint, methods=list(methods), middleware=middleware)
        self.wing = wing


def wing_of(scope: Scope, default: Wing) -> Wing:
    """The wing of the route that matched ``scope`` (fully or by path only), else ``default``."""
    route = scope.get("route")
    return route.wing if isinstance(route, WingRoute) else default


def routes(
    wing: Wing,
    endpoints: Sequence[tuple[str, Endpoint, Sequence[str]]],
    config: ServerConfig,
    *,
    public: bool = False,
    json_body: bool = False,
) -> list[Route]:
    """``(path, endpoint, methods)`` as routes behind the wing's middleware.

    ``public`` routes need no API key; ``json_body`` routes take only JSON bodies.
    """
    middleware = [
        Middleware(
            BrowserGuardMiddleware,
            wing=wing,
            allowed_hosts=config.served_hosts(),
            cors_origins=frozenset(config.cors_origins),
            json_body=json_body,
        ),
        Middleware(
            BodyLimitMiddleware,
            wing=wing,
            max_bytes=config.max_body_bytes,
            timeout_s=config.body_timeout_s,
        ),
        *([] if public else [Middleware(AuthMiddleware, wing=wing, api_keys=config.api_keys)]),
        Middleware(ExceptionMiddleware, handlers={Exception: wing.handle}),
    ]
    return [
        WingRoute(path, endpoint, wing=wing, methods=methods, middleware=middleware)
        for path, endpoint, methods in endpoints
    ]
