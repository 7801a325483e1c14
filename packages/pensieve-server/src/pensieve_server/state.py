"""What routes share: the served models, the config and the defaults (set by ``create_app``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from pensieve_server.config import ServerConfig
from pensieve_server.drain import Drain
from pensieve_server.observer import Observer
from pensieve_server.recent import RecentRequests
from pensieve_server.served_models import ServedModels


@dataclass(frozen=True, slots=True)
class RequestDefaults:
    """What a request that leaves a value unset gets, in either dialect."""

    temperature: float
    openai_max_tokens: int

    @classmethod
    def of(cls, config: ServerConfig) -> RequestDefaults:
        """The defaults ``config`` sets."""
        return cls(config.default_temperature, config.openai_default_max_tokens)


@dataclass(slots=True)
class AppState:
    """Typed application state."""

    models: ServedModels
    config: ServerConfig
    defaults: RequestDefaults
    started: float = field(default_factory=time.time)
    requests_served: int = 0
    observer: Observer | None = None
    """Set when the app wires metrics in (``/metrics`` and the live figures in ``/health``)."""
    drain: Drain = field(default_factory=Drain)
    """Tells running requests that the server stops (``serve`` starts it)."""
    recent: RecentRequests = field(default_factory=lambda: RecentRequests(0))
    """The console's recent requests and running totals (``create_app`` sizes it)."""


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state = request.app.state.pensieve
    assert isinstance(state, AppState)
    return state
