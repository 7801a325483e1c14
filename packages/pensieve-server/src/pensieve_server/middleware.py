"""Pure-ASGI middleware: request context app-wide; guard, body limit and auth per wing.

The per-wing ones sit in front of each wing's routes and answer in that wing's dialect.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable, Sequence

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pensieve_server.errors import BodyTimeoutError, BodyTooLargeError, Dialect, ErrorKind
from pensieve_server.observer import Observer
from pensieve_server.recent import RecentRequests

log = structlog.get_logger()


def route_label(scope: Scope) -> str:
    """A bounded metrics label: the template of the route that matched, or ``other``."""
    route: BaseRoute | None = scope.get("route")
    if isinstance(route, Route) and scope.get("endpoint") is not None:
        return route.path.replace(":path}", "}")
    return "other"


def new_request_id() -> str:
    """An Anthropic-style request id."""
    return f"req_{secrets.token_hex(12)}"


def request_id(scope: Scope) -> str:
    """The id ``RequestContextMiddleware`` assigned."""
    return str(scope.get("state", {}).get("request_id", ""))


def mark_logged(scope: Scope) -> None:
    """Tell the access logger that the route logged this request itself."""
    scope.setdefault("state", {})["logged"] = True


class RequestContextMiddleware:
    """Binds a request id to the logging context and returns it in ``request-id``.

    Also logs the access line for requests that routes do not log themselves, answers an error
    that nothing below answered (``answer``: in the dialect of the route that matched), and
    closes the request's entry in ``recent`` once its response has been sent.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        answer: Callable[[Scope, Exception], Response],
        observer: Observer | None = None,
        recent: RecentRequests | None = None,
    ) -> None:
        self.app = app
        self._answer = answer
        self._observer = observer
        self._recent = recent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid, route=scope["path"])
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                MutableHeaders(scope=message)["request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as e:
            # Answered here rather than by Starlette's outermost error middleware: that one
            # would skip the request-id header, and Hypercorn would log the traceback again.
            if responded:
                log.error("response_failed", exc_info=e)
                return
            await self._answer(scope, e)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if self._observer is not None:
                self._observer.observe_request(route_label(scope), status)
            if self._recent is not None:
                self._recent.close(scope, rid, route_label(scope), status, elapsed)
            if not scope["state"].get("logged"):
                # Health polls (status, --detach, load balancers) would drown the log at info.
                emit = log.debug if scope["path"] == "/health" else log.info
                emit(
                    "request_finished",
                    method=scope["method"],
                    status=status,
                    ms=round(elapsed * 1000, 1),
                )


class AuthMiddleware:
    """Checks ``x-api-key`` or ``Authorization: Bearer`` against the configured keys."""

    def __init__(self, app: ASGIApp, *, wing: Dialect, api_keys: Sequence[str]) -> None:
        self.app = app
        self._wing = wing
        self._keys = [k.encode() for k in api_keys]

    def _authorized(self, offered: str) -> bool:
        candidate = offered.encode()
        # Compare against every key so timing reveals neither the key nor which one matched.
        matches = [hmac.compare_digest(candidate, key) for key in self._keys]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http" or not self._keys:
            await self.app(scope, receive, send)
            return
        offered, sent_as = offered_key(Headers(scope=scope))
        if not offered or not self._authorized(offered):
            message = auth_message(sent_as, missing=self._wing.missing_key)
            await self._wing.error(401, "authentication_error", message)(scope, receive, send)
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


def auth_message(sent_as: str, *, missing: str) -> str:
    """A 401 message that names what the client sent (``missing``: the wing's words for none)."""
    if sent_as == "bearer":
        return "invalid API key in the Authorization: Bearer header"
    if sent_as == "x-api-key":
        return "invalid x-api-key"
    return missing


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
        self,
        app: ASGIApp,
        *,
        wing: Dialect,
        allowed_hosts: frozenset[str] | None,
        cors_origins: frozenset[str],
        json_body: bool,
    ) -> None:
        self.app = app
        self._wing = wing
        self._hosts = allowed_hosts
        self._origins = cors_origins
        self._json_body = json_body

    def _refusal(self, scope: Scope) -> tuple[int, ErrorKind, str] | None:
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
        if self._json_body and scope["method"] == "POST":
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
            await self._wing.error(status, kind, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, and bodies that stall with 408."""

    def __init__(
        self, app: ASGIApp, *, wing: Dialect, max_bytes: int, timeout_s: float = 30.0
    ) -> None:
        self.app = app
        self._wing = wing
        self._max = max_bytes
        self._timeout = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max:
            message = f"request body exceeds {self._max} bytes"
            await self._wing.error(413, "request_too_large", message)(scope, receive, send)
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
