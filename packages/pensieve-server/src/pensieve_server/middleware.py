"""Pure-ASGI middleware: request ids and logging context, auth, and the body-size limit."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Sequence

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pensieve_api import AnthropicErrorType
from pensieve_metrics import MetricsRegistry
from pensieve_server.errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    dialect_error,
    error_response_for,
)

log = structlog.get_logger()

PUBLIC_PATHS = frozenset({"/", "/health"})
ROUTES = frozenset(
    {
        "/",
        "/health",
        "/metrics",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/models",
        "/v1/chat/completions",
    }
)


def route_label(path: str) -> str:
    """A bounded label for metrics: the route template, or ``other``."""
    if path in ROUTES:
        return path
    return "/v1/models/{model_id}" if path.startswith("/v1/models/") else "other"


def new_request_id() -> str:
    """An Anthropic-style request id."""
    return f"req_{secrets.token_hex(12)}"


class RequestContextMiddleware:
    """Binds a request id to the logging context and returns it in ``request-id``.

    Also logs the access line for requests that routes do not log themselves.
    """

    def __init__(self, app: ASGIApp, *, metrics: MetricsRegistry | None = None) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, route=scope["path"])
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                MutableHeaders(scope=message)["request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as e:
            # Answered here rather than by Starlette's outermost error middleware: that one
            # would skip the request-id header, and Hypercorn would log the traceback again.
            if responded:
                log.error("response_failed", exc_info=e)
                return
            await error_response_for(scope["path"], e)(scope, receive, send_with_id)
        finally:
            if self._metrics is not None:
                self._metrics.observe_request(route_label(scope["path"]), status)
            if not scope["state"].get("logged"):
                # Health polls (status, --detach, load balancers) would drown the log at info.
                emit = log.debug if scope["path"] == "/health" else log.info
                emit(
                    "request_finished",
                    method=scope["method"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


class AuthMiddleware:
    """Checks ``x-api-key`` or ``Authorization: Bearer`` against the configured keys."""

    def __init__(
        self, app: ASGIApp, *, api_keys: Sequence[str], public_paths: frozenset[str]
    ) -> None:
        self.app = app
        self._keys = [k.encode() for k in api_keys]
        self._public = public_paths

    def _authorized(self, offered: str) -> bool:
        candidate = offered.encode()
        # Compare against every key so timing reveals neither the key nor which one matched.
        matches = [hmac.compare_digest(candidate, key) for key in self._keys]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or not self._keys or scope["path"] in self._public:
            await self.app(scope, receive, send)
            return
        offered, sent_as = offered_key(Headers(scope=scope))
        if not offered or not self._authorized(offered):
            path = scope["path"]
            message = auth_message(sent_as, openai=path.startswith("/v1/chat/"))
            await dialect_error(path, 401, "authentication_error", message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def offered_key(headers: Headers) -> tuple[str, str]:
    """The key a client sent and how: ``x-api-key``, ``bearer`` or ``""`` (none)."""
    if key := headers.get("x-api-key", "").strip():
        return key, "x-api-key"
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and (key := auth[7:].strip()):
        return key, "bearer"
    return "", ""


def auth_message(sent_as: str, *, openai: bool) -> str:
    """A 401 message that names what the client sent, in its dialect's words."""
    if sent_as == "bearer":
        return "invalid API key in the Authorization: Bearer header"
    if sent_as == "x-api-key":
        return "invalid x-api-key"
    if openai:
        return "missing API key: send it as an Authorization: Bearer header"
    return "x-api-key header is required"


JSON_ROUTES = frozenset({"/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"})
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:7777`` -> ``::1``), lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserGuardMiddleware:
    """Keeps web pages from driving the server through the user's browser.

    A page can make the browser send requests to ``127.0.0.1`` (a "simple" cross-site POST needs
    no CORS preflight), or point a DNS name it controls at ``127.0.0.1`` and read the answers
    (DNS rebinding). So: the ``Host`` must be a local name, the bound address or one of
    ``server.allowed-hosts``; an ``Origin`` must be this server itself or one of
    ``server.cors-origins``; JSON routes take only JSON bodies (``text/plain`` and form types are
    what cross-site pages can send without a preflight).
    """

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: frozenset[str] | None, cors_origins: frozenset[str]
    ) -> None:
        self.app = app
        self._hosts = allowed_hosts
        self._origins = cors_origins

    def _refusal(self, scope: Scope) -> tuple[int, AnthropicErrorType, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self._hosts is not None and host_name(host) not in self._hosts:
            return (
                403,
                "permission_error",
                f"Host {host!r} is not served here (a protection against DNS rebinding); "
                "add the name to server.allowed-hosts",
            )
        origin = headers.get("origin")
        if origin is not None and origin not in self._origins:
            same = origin.lower().split("://", 1)[-1] == host.lower()
            if not same:
                return (
                    403,
                    "permission_error",
                    f"cross-site request from Origin {origin!r} refused; "
                    "allow it with server.cors-origins",
                )
        if scope["method"] == "POST" and scope["path"] in JSON_ROUTES:
            kind = headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if kind != "application/json":
                return (
                    400,
                    "invalid_request_error",
                    f"content-type must be application/json, got {kind!r}",
                )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] == "http" and (refusal := self._refusal(scope)) is not None:
            status, kind, message = refusal
            log.warning("request_refused", status=status, reason=message)
            await dialect_error(scope["path"], status, kind, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, and bodies that stall with 408."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self._max = max_bytes
        self._timeout = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        complete = False

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()  # after the body: waiting for a disconnect is fine
            try:
                message = await asyncio.wait_for(receive(), self._timeout)
            except TimeoutError:
                raise BodyTimeoutError(
                    f"the request body stalled: nothing arrived for {self._timeout:g} s"
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self._max:
                    raise BodyTooLargeError(f"request body exceeds {self._max} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds {self._max} bytes"
        await dialect_error(scope["path"], 413, "request_too_large", message)(scope, receive, send)
