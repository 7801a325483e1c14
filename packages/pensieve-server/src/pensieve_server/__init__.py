"""pensieve_server: the HTTP server.

``create_app(engine, config)`` builds a Starlette app that serves the Anthropic Messages API and the
OpenAI chat API over any ``pensieve_core.Engine``; ``serve`` runs it on Hypercorn. It never imports
MLX or the loader. The web stack is imported on first use, so reading ``ServerConfig`` stays light.
"""

from typing import TYPE_CHECKING, Any

from pensieve_server.config import ServerConfig

if TYPE_CHECKING:
    from pensieve_server.app import create_app, drain_of
    from pensieve_server.hosting import bind_socket, bound_address, serve

__all__ = (
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
    if name in ("serve", "bind_socket", "bound_address"):
        from pensieve_server import hosting

        return getattr(hosting, name)
    raise AttributeError(name)
