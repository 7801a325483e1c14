"""pensieve_server: the HTTP server.

``create_app(engine, config)`` builds a Starlette app that serves the Anthropic Messages API and the
OpenAI chat API over any ``pensieve_core.Engine``; ``serve`` runs it on Hypercorn. It never imports
MLX or the loader.
"""

from pensieve_server.app import create_app
from pensieve_server.config import ServerConfig, is_loopback
from pensieve_server.serve import serve

__all__ = ("ServerConfig", "create_app", "is_loopback", "serve")
