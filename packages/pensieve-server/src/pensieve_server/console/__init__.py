"""The web console at ``/``: a page served by the server itself, no build step, no network.

``assets/`` holds the page, its one script and its one stylesheet; they ship inside the package.
"""

from pensieve_server.console.routes import (
    asset,
    prefers_html,
    recent_request,
    recent_requests,
    root,
    stats,
)

__all__ = ("asset", "prefers_html", "recent_request", "recent_requests", "root", "stats")
