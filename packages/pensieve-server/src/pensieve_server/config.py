"""Configuration of the HTTP server."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pensieve_core import ConfigError

MIB = 1024 * 1024
SECONDS = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server listens and whom it serves. Keys live under ``[server]``."""

    host: str = "127.0.0.1"
    """Address to bind; anything beyond loopback needs API keys (or ``allow-public``)."""
    port: int = 7777
    """TCP port."""
    api_keys: tuple[str, ...] = ()
    """Accepted keys (``x-api-key`` or ``Authorization: Bearer``); empty means no auth."""
    allow_public: bool = False
    """Allow binding beyond loopback without API keys."""
    model_aliases: tuple[str, ...] = ("local-model",)
    """Extra model names listed by ``/v1/models`` (and accepted under ``strict-model-names``)."""
    strict_model_names: bool = False
    """Answer 404 ``not_found_error`` for model names other than ``claude-*``, the served name and
    the aliases. Off: any name reaches the served model and is echoed back."""
    max_body_bytes: int = 32 * MIB
    """Largest accepted request body; larger ones get 413 ``request_too_large``."""
    ping_interval_s: float = 5 * SECONDS
    """Keep-alive pings on idle streams (for example while a long prompt is prefilled)."""
    default_temperature: float = 0.6
    """Used when a request sets no temperature (Claude Code never does). Anthropic's own default,
    1.0, is too random for the small models that run locally."""
    metrics_public: bool = False
    """Serve ``/metrics`` without auth."""
    graceful_timeout_s: float = 30 * SECONDS
    """How long shutdown waits for in-flight requests."""

    def __post_init__(self) -> None:
        # An empty key would count as "keys set" yet match a request that sends none.
        if any(not key.strip() for key in self.api_keys):
            raise ConfigError(
                "server.api-keys: an API key is empty or blank", key="server.api-keys"
            )

    def check_binding(self) -> None:
        """Refuse a non-loopback bind without keys unless explicitly allowed."""
        if self.api_keys or self.allow_public or is_loopback(self.host):
            return
        raise ConfigError(
            f"refusing to listen on {self.host!r} without API keys: set server.api-keys "
            "(or --api-key), or opt in with --allow-public",
            key="server.host",
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts local connections."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
