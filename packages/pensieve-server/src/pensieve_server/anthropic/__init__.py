"""The Anthropic wing: Messages and count_tokens, and the model list, in Anthropic's shapes."""

from __future__ import annotations

from starlette.routing import Route

from pensieve_api import encoder
from pensieve_server.anthropic.responses import error_body
from pensieve_server.anthropic.routes import MessagesEndpoints
from pensieve_server.anthropic.signatures import ThinkingSigner
from pensieve_server.config import ServerConfig
from pensieve_server.errors import ErrorKind
from pensieve_server.info import get_model, list_models
from pensieve_server.wing import Wing, routes


def _error_json(kind: ErrorKind, message: str) -> bytes:
    return encoder.encode(error_body(kind, message))


WING = Wing(name="anthropic", error_body=_error_json, missing_key="x-api-key header is required")


def anthropic_routes(config: ServerConfig, signer: ThinkingSigner) -> list[Route]:
    """The wing's routes, behind its middleware; ``signer`` signs the thinking blocks."""
    endpoints = MessagesEndpoints(signer)
    return [
        *routes(
            WING,
            [
                ("/v1/messages", endpoints.create_message, ["POST"]),
                ("/v1/messages/count_tokens", endpoints.count_tokens, ["POST"]),
            ],
            config,
            json_body=True,
        ),
        *routes(
            WING,
            [
                ("/v1/models", list_models, ["GET"]),
                ("/v1/models/{model_id:path}", get_model, ["GET"]),
            ],
            config,
        ),
    ]


__all__ = ("WING", "ThinkingSigner", "anthropic_routes")
