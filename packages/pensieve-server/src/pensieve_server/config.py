"""Configuration of the HTTP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import msgspec

from pensieve_core import ConfigError, is_loopback

MIB = 1024 * 1024
SECONDS = 1.0

# Constraints as types: msgspec enforces them wherever the config is decoded (file, env, flags).
Port = Annotated[int, msgspec.Meta(ge=1, le=65535, description="a port")]
Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Temperature = Annotated[float, msgspec.Meta(ge=0)]
NonBlank = Annotated[str, msgspec.Meta(pattern=r"\S")]
"""A string with at least one non-space character."""
Route = Annotated[str, msgspec.Meta(pattern=r"^[^=\s]+=[^=\s]+$")]
"""``PATTERN=NAME``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server listens and whom it serves. Keys live under ``[server]``.

    Each field's ``metadata["help"]`` is its documentation (the CLI and the reference show it).
    """

    host: str = field(
        default="127.0.0.1",
        metadata={
            "help": "Address to bind; anything beyond loopback needs API keys "
            "(or ``allow-public``)."
        },
    )
    port: Port = field(default=7777, metadata={"help": "TCP port."})
    api_keys: tuple[NonBlank, ...] = field(
        default=(),
        metadata={
            "help": "Accepted keys (``x-api-key`` or ``Authorization: Bearer``); "
            "empty means no auth."
        },
    )
    allow_public: bool = field(
        default=False, metadata={"help": "Allow binding beyond loopback without API keys."}
    )
    allowed_hosts: tuple[NonBlank, ...] = field(
        default=(),
        metadata={
            "help": "``Host`` names served besides ``localhost``, ``127.0.0.1``, ``::1`` and the "
            "bound address (a protection against DNS rebinding); ``*`` allows any. Bound beyond "
            "loopback with this empty, any ``Host`` is served (API keys guard that case)."
        },
    )
    cors_origins: tuple[NonBlank, ...] = field(
        default=(),
        metadata={
            "help": "Web origins (``https://app.example``) allowed to call the API from a "
            "browser; others are refused with 403, and so are non-JSON bodies on the JSON routes."
        },
    )
    model_aliases: tuple[NonBlank, ...] = field(
        default=("local-model",),
        metadata={
            "help": "Extra names of the default model, listed by ``/v1/models`` (and accepted "
            "under ``strict-model-names``)."
        },
    )
    strict_model_names: bool = field(
        default=False,
        metadata={
            "help": "Answer 404 ``not_found_error`` for model names other than ``claude-*``, the "
            "served names, the aliases and the route patterns. Off: any other name reaches the "
            "default model and is echoed back."
        },
    )
    model_routes: tuple[Route, ...] = field(
        default=("*haiku*=fast",),
        metadata={
            "help": "``PATTERN=NAME`` rules, tried in order after the served names and aliases: "
            "a requested name matching the glob ``PATTERN`` (case-insensitive) goes to the "
            "served model ``NAME``; ``fast`` means the model marked fast (the rule is skipped "
            "when there is none). The default sends Claude Code's haiku tier (subagents, titles) "
            "to the fast model."
        },
    )
    max_loaded_models: Count = field(
        default=0,
        metadata={
            "help": "Most served models loaded at once (0: no limit); a request for another "
            "unloads the least recently used idle one first."
        },
    )
    memory_budget_gib: Annotated[float, msgspec.Meta(ge=0)] = field(
        default=0.0,
        metadata={
            "help": "Most GiB of weights loaded at once (0: no limit); idle models are unloaded, "
            "least recently used first, to fit a model being loaded."
        },
    )
    model_keep_alive_s: Seconds = field(
        default=0.0,
        metadata={
            "help": "A model idle this long is unloaded (0: models stay loaded), as Ollama's "
            "keep-alive; the next request for it loads it again. Never while it has requests "
            "in flight."
        },
    )
    max_body_bytes: Count = field(
        default=32 * MIB,
        metadata={
            "help": "Largest accepted request body; larger ones get 413 ``request_too_large``."
        },
    )
    ping_interval_s: Seconds = field(
        default=5 * SECONDS,
        metadata={
            "help": "Keep-alive pings on idle streams (for example while a long prompt is "
            "prefilled)."
        },
    )
    default_temperature: Temperature = field(
        default=0.6,
        metadata={
            "help": "Used when a request sets no temperature (Claude Code never does). "
            "Anthropic's own default, 1.0, is too random for the small models that run locally."
        },
    )
    openai_default_max_tokens: Count = field(
        default=1024,
        metadata={
            "help": "``max_tokens`` of an OpenAI request that sets none (the engine also caps it "
            "by what the context window leaves and by ``engine.max-output-tokens``)."
        },
    )
    metrics_public: bool = field(
        default=False, metadata={"help": "Serve ``/metrics`` without auth."}
    )
    keep_alive_timeout_s: Seconds = field(
        default=20 * SECONDS,
        metadata={
            "help": "Idle keep-alive connections, and connections that have not sent a whole "
            "request head (slowloris), are closed after this."
        },
    )
    body_timeout_s: Seconds = field(
        default=30 * SECONDS,
        metadata={
            "help": "A request body must keep arriving: a pause longer than this is answered 408."
        },
    )
    max_connections: Count = field(
        default=1024,
        metadata={
            "help": "Open connections at once; more are answered 503 (with ``retry-after``) and "
            "closed. The server raises its open-file limit to the system's hard limit at start."
        },
    )
    warm_requests: tuple[NonBlank, ...] = field(
        default=(),
        metadata={
            "help": "Anthropic requests (JSON files: a Messages body, or a recording with "
            "``body_json``) prefilled into the prefix cache when the server starts, so that the "
            "first real turn with the same system prompt and tools reads them from the cache "
            "(``pensieve start --warm FILE``)."
        },
    )
    recent_requests: Count = field(
        default=100,
        metadata={
            "help": "Generation requests the web console's recent-requests table keeps, in memory "
            "(their figures and redacted shapes, never their text); 0 keeps none."
        },
    )
    graceful_timeout_s: Seconds = field(
        default=30 * SECONDS,
        metadata={"help": "How long shutdown waits for in-flight requests."},
    )

    def __post_init__(self) -> None:
        # An empty key would count as "keys set" yet match a request that sends none; the type
        # says so too, but code may build a ServerConfig without decoding it.
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
