"""Error bodies in the Anthropic and OpenAI shapes."""

from __future__ import annotations

from typing import Literal

from pensieve_api._base import StreamEvent, WireOut

AnthropicErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]


class ErrorDetail(WireOut):
    """What went wrong."""

    type: AnthropicErrorType
    message: str


class ErrorResponse(StreamEvent, tag="error"):
    """``{"type": "error", "error": {"type": ..., "message": ...}}``; also the SSE ``error`` event."""

    error: ErrorDetail


class OpenAIErrorDetail(WireOut):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(WireOut):
    """``{"error": {...}}``."""

    error: OpenAIErrorDetail
