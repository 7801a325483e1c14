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
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names served besides ``localhost``, ``127.0.0.1``, ``::1`` and the bound address
    (a protection against DNS rebinding); ``*`` allows any. Bound beyond loopback with this
    empty, any ``Host`` is served (API keys guard that case)."""
    cors_origins: tuple[str, ...] = ()
    """Web origins (``https://app.example``) allowed to call the API from a browser; others are
    refused with 403, and so are non-JSON bodies on the JSON routes."""
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
    openai_default_max_tokens: int = 1024
    """``max_tokens`` of an OpenAI request that sets none (the engine also caps it by what the
    context window leaves and by ``engine.max-output-tokens``)."""
    metrics_public: bool = False
    """Serve ``/metrics`` without auth."""
    keep_alive_timeout_s: float = 20 * SECONDS
    """Idle keep-alive connections, and connections that have not sent a whole request head
    (slowloris), are closed after this."""
    body_timeout_s: float = 30 * SECONDS
    """A request body must keep arriving: a pause longer than this is answered 408."""
    max_connections: int = 1024
    """Open connections at once; more are answered 503 (with ``retry-after``) and closed. The
    server raises its open-file limit to the system's hard limit at start."""
    graceful_timeout_s: float = 30 * SECONDS
    """How long shutdown waits for in-flight requests."""

    def __post_init__(self) -> None:
        # An empty key would count as "keys set" yet match a request that sends none.
        if any(not key.strip() for key in self.api_keys):
            raise ConfigError(
                "server.api-keys: an API key is empty or blank", key="server.api-keys"
            )

    def served_hosts(self) -> frozenset[str] | None:
        """``Host`` names to accept, or ``None`` for any."""
        if "*" in self.allowed_hosts or (not is_loopback(self.host) and not self.allowed_hosts):
            return None
        names = {"localhost", "127.0.0.1", "::1", self.host.strip("[]").lower()}
        return frozenset(names | {h.lower() for h in self.allowed_hosts})

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
