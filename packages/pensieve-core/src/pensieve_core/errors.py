"""The whole Pensieve error tree.

Every layer raises these (or private subclasses), so the server and the CLI can map them to status
codes and exit codes without importing the layer that raised them.
"""

from __future__ import annotations


class PensieveError(Exception):
    """Base of every error Pensieve raises on purpose."""


class ConfigError(PensieveError):
    """A configuration value is unknown or invalid."""

    def __init__(self, message: str, *, key: str = "", source: str = "") -> None:
        super().__init__(message)
        self.key = key
        """The offending key, dotted (``server.port``)."""
        self.source = source
        """Where the value came from (a file path, ``env``, ``flag``)."""


class ModelError(PensieveError):
    """Base for model resolution and loading problems."""


class ModelNotFoundError(ModelError):
    """The named model cannot be found locally or in the hub cache."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model
        """The reference the user gave."""


class ModelFormatError(ModelError):
    """A model file or directory is corrupt, incomplete or inconsistent."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
        """The file or directory at fault."""


class UnsupportedModelError(ModelFormatError):
    """The model is well-formed but of an architecture or type Pensieve cannot run."""


class ModelLoadError(ModelError):
    """Loading a valid-looking model failed in the engine."""


class RequestError(PensieveError):
    """A request the engine cannot serve as asked (the client's fault)."""


class InvalidRequestError(RequestError):
    """Malformed or contradictory request content."""


class UnsupportedContentError(InvalidRequestError):
    """The request uses content the model cannot take (e.g. images without vision)."""


class ModelNameError(RequestError):
    """The request names a model this server does not serve."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model
        """The name the client asked for."""


class ContextLengthExceededError(RequestError):
    """The prompt (plus the output it needs) does not fit in the context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int) -> None:
        # The exact wording is what Claude Code looks for before it compacts a conversation.
        super().__init__(f"prompt is too long: {prompt_tokens} tokens > {max_tokens} maximum")
        self.prompt_tokens = prompt_tokens
        """Tokens the rendered prompt needs."""
        self.max_tokens = max_tokens
        """Tokens the model allows for the prompt."""


class OverloadedError(PensieveError):
    """The engine's queue is full: try again later."""


class EngineError(PensieveError):
    """The engine failed while running a request (not the client's fault)."""


class EngineUnavailableError(EngineError):
    """The engine cannot serve at all now (a rank of its distributed group is gone)."""


class ListenError(PensieveError):
    """The server cannot listen on its address (in use, not permitted, not an address here)."""

    def __init__(self, host: str, port: int, reason: str, *, in_use: bool) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason
        self.in_use = in_use
        """Another process holds the port (``EADDRINUSE``)."""
