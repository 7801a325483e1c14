"""The OpenAI wing: chat completions, in OpenAI's shapes."""

from __future__ import annotations

from starlette.routing import Route

from pensieve_api import encoder
from pensieve_server.config import ServerConfig
from pensieve_server.errors import ErrorKind
from pensieve_server.openai.routes import chat_completions
from pensieve_server.openai.translate import error_body
from pensieve_server.wing import Wing, routes


def _error_json(kind: ErrorKind, message: str) -> bytes:
    return encoder.encode(error_body(kind, message))


WING = Wing(
    name="openai",
    error_body=_error_json,
    missing_key="missing API key: send it as an Authorization: Bearer header",
)


def openai_routes(config: ServerConfig) -> list[Route]:
    """The wing's routes, behind its middleware."""
    return routes(
        WING, [("/v1/chat/completions", chat_completions, ["POST"])], config, json_body=True
    )


__all__ = ("WING", "openai_routes")
