"""What every error means over HTTP, whatever the dialect: status, kind, message.

Each wire dialect renders these in its own shape (``pensieve_server.wing``); this module holds
only the mapping they share.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.responses import Response

from pensieve_api import AnthropicErrorType
from pensieve_core import (
    ContextLengthExceededError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelNameError,
    OverloadedError,
    PensieveError,
    RequestError,
)

ErrorKind: TypeAlias = AnthropicErrorType
"""The error kinds, named as Anthropic names them (the OpenAI wing reuses the names)."""

_HTTP_KINDS: dict[int, ErrorKind] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class Dialect(Protocol):
    """How a wire dialect answers errors (``pensieve_server.wing.Wing``)."""

    @property
    def missing_key(self) -> str:
        """The 401 message when a request sends no API key."""
        ...

    def error(self, status: int, kind: ErrorKind, message: str) -> Response:
        """An error response in the dialect's shape."""
        ...


CLIENT_CLOSED = 499
"""Status logged for a request whose client went away before the answer (nginx's convention)."""

RETRY_AFTER_S = 2
"""What 429, 503 and 529 answers tell clients to wait (the SDKs and Claude Code honour it)."""

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


def classify(error: BaseException) -> tuple[int, ErrorKind, str]:
    """Status, error kind and message for any error a request can raise."""
    if isinstance(error, msgspec.ValidationError | msgspec.DecodeError):
        return 400, "invalid_request_error", f"invalid request body: {error}"
    if isinstance(error, ContextLengthExceededError):
        return 400, "invalid_request_error", str(error)
    if isinstance(error, ModelNameError):
        return 404, "not_found_error", str(error)
    if isinstance(error, RequestError):
        return 400, "invalid_request_error", str(error)
    if isinstance(error, EngineUnavailableError):
        return 503, "api_error", str(error)
    if isinstance(error, OverloadedError):
        return 529, "overloaded_error", str(error) or "the server is overloaded"
    if isinstance(error, BodyTooLargeError):
        return 413, "request_too_large", str(error)
    if isinstance(error, BodyTimeoutError):
        return 408, "invalid_request_error", str(error)
    if isinstance(error, HTTPException):
        return error.status_code, _HTTP_KINDS.get(error.status_code, "api_error"), str(error.detail)
    if isinstance(error, PensieveError):
        return 500, "api_error", str(error)
    return 500, "api_error", "internal server error"


def retry_headers(status: int) -> dict[str, str] | None:
    """``retry-after`` on the answers that mean "try again soon"."""
    return {"retry-after": str(RETRY_AFTER_S)} if status in (429, 503, 529) else None
