"""Map errors to HTTP, in one place: status codes and the Anthropic / OpenAI error shapes."""

from __future__ import annotations

from typing import TypeVar

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pensieve_api import (
    AnthropicErrorType,
    ErrorDetail,
    ErrorResponse,
    OpenAIErrorDetail,
    OpenAIErrorResponse,
    encoder,
)
from pensieve_core import (
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNameError,
    OverloadedError,
    PensieveError,
    RequestError,
)

_HTTP_TYPES: dict[int, AnthropicErrorType] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


CLIENT_CLOSED = 499
"""Status logged for a request whose client went away before the answer (nginx's convention)."""

T = TypeVar("T")


class BodyTooLargeError(Exception):
    """The request body exceeds the configured limit."""


class BodyTimeoutError(Exception):
    """The request body stopped arriving (a stalled or never-ending upload)."""


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode a request body once, at the edge; every malformed body is a 400 naming why."""
    try:
        return decoder.decode(body)
    except UnicodeDecodeError as e:
        raise InvalidRequestError(
            f"invalid request body: not valid UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    except RecursionError:
        raise InvalidRequestError("invalid request body: JSON nested too deeply") from None


def classify(error: BaseException) -> tuple[int, AnthropicErrorType, str]:
    """Status, error type and message for any error a request can raise."""
    if isinstance(error, msgspec.ValidationError | msgspec.DecodeError):
        return 400, "invalid_request_error", f"invalid request body: {error}"
    if isinstance(error, ContextLengthExceededError):
        return 400, "invalid_request_error", str(error)
    if isinstance(error, ModelNameError):
        return 404, "not_found_error", str(error)
    if isinstance(error, RequestError):
        return 400, "invalid_request_error", str(error)
    if isinstance(error, OverloadedError):
        return 529, "overloaded_error", str(error) or "the server is overloaded"
    if isinstance(error, BodyTooLargeError):
        return 413, "request_too_large", str(error)
    if isinstance(error, BodyTimeoutError):
        return 408, "invalid_request_error", str(error)
    if isinstance(error, HTTPException):
        return error.status_code, _HTTP_TYPES.get(error.status_code, "api_error"), str(error.detail)
    if isinstance(error, PensieveError):
        return 500, "api_error", str(error)
    return 500, "api_error", "internal server error"


RETRY_AFTER_S = 2
"""What 429, 503 and 529 answers tell clients to wait (the SDKs and Claude Code honour it)."""


def _headers(status: int) -> dict[str, str] | None:
    return {"retry-after": str(RETRY_AFTER_S)} if status in (429, 503, 529) else None


def anthropic_error(status: int, kind: AnthropicErrorType, message: str) -> Response:
    """An Anthropic-shaped error response."""
    body = encoder.encode(ErrorResponse(error=ErrorDetail(type=kind, message=message)))
    return Response(
        body, status_code=status, media_type="application/json", headers=_headers(status)
    )


def openai_error(status: int, kind: str, message: str) -> Response:
    """An OpenAI-shaped error response."""
    body = encoder.encode(OpenAIErrorResponse(error=OpenAIErrorDetail(message=message, type=kind)))
    return Response(
        body, status_code=status, media_type="application/json", headers=_headers(status)
    )


def dialect_error(path: str, status: int, kind: AnthropicErrorType, message: str) -> Response:
    """An error in the shape of the dialect that ``path`` belongs to (OpenAI or Anthropic)."""
    make = openai_error if path.startswith("/v1/chat/") else anthropic_error
    return make(status, kind, message)


def error_response(request: Request, error: BaseException) -> Response:
    """The response for ``error``, in the dialect of the route that failed."""
    return error_response_for(request.url.path, error)


def error_response_for(path: str, error: BaseException) -> Response:
    """The response for ``error`` on ``path`` (logged once when it is a server fault)."""
    status, kind, message = classify(error)
    if status >= 500 and not isinstance(error, OverloadedError):
        structlog.get_logger().error("request_failed", exc_info=error)
    return dialect_error(path, status, kind, message)


async def handle_any(request: Request, error: Exception) -> Response:
    """Starlette exception handler for everything."""
    return error_response(request, error)


def exception_handlers() -> dict[type[Exception] | int, object]:
    """Starlette handlers: every error a route raises on purpose, plus the 500 fallback."""
    handled: list[type[Exception]] = [
        PensieveError,
        msgspec.ValidationError,
        msgspec.DecodeError,
        HTTPException,
        BodyTooLargeError,
        BodyTimeoutError,
    ]
    handlers: dict[type[Exception] | int, object] = dict.fromkeys(handled, handle_any)
    handlers[Exception] = handle_any
    return handlers
