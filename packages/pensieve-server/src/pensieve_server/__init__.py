"""pensieve_server: the HTTP server.

``create_app(engine, config)`` (or ``create_app(ServedModels(...), config)`` for several models) builds a Starlette app that serves the Anthropic Messages API and the
OpenAI chat API over any ``pensieve_core.Engine``; ``serve`` runs it on Hypercorn. It never imports
MLX or the loader. The web stack is imported on first use, so reading ``ServerConfig`` stays light.
"""

from typing import TYPE_CHECKING, Any

from pensieve_server.config import ServerConfig

if TYPE_CHECKING:
    from pensieve_server.app import create_app, drain_of
    from pensieve_server.hosting import bind_socket, bound_address, serve
    from pensieve_server.served_models import Limits, ModelSpec, ModelStatus, ServedModels

__all__ = (
    "Limits",
    "ModelSpec",
    "ModelStatus",
    "ServedModels",
    "ServerConfig",
    "bind_socket",
    "bound_address",
    "create_app",
    "drain_of",
    "serve",
)


def __getattr__(name: str) -> Any:
    if name in ("create_app", "drain_of"):
        from pensieve_server import app

        return getattr(app, name)
    if name in ("Limits", "ModelSpec", "ModelStatus", "ServedModels"):
        from pensieve_server import served_models

        return getattr(served_models, name)
    if name in ("serve", "bind_socket", "bound_address"):
        from pensieve_server import hosting

        return getattr(hosting, name)
    raise AttributeError(name)
