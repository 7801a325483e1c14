"""What routes share: the engine, the config and the model names (set by ``create_app``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from pensieve_core import Engine
from pensieve_metrics import MetricsRegistry
from pensieve_server.config import ServerConfig
from pensieve_server.drain import Drain
from pensieve_server.model_names import ModelNames


@dataclass(slots=True)
class AppState:
    """Typed application state."""

    engine: Engine
    config: ServerConfig
    names: ModelNames
    started: float = field(default_factory=time.time)
    requests_served: int = 0
    metrics: MetricsRegistry | None = None
    """Set when the app wires metrics in (``/metrics`` and the live figures in ``/health``)."""
    drain: Drain = field(default_factory=Drain)
    """Tells running requests that the server stops (``serve`` starts it)."""


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state = request.app.state.pensieve
    assert isinstance(state, AppState)
    return state


def request_id(request: Request) -> str:
    """The id the request-context middleware assigned."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def mark_logged(request: Request) -> None:
    """Tell the access logger that the route logged this request itself."""
    request.scope.setdefault("state", {})["logged"] = True
