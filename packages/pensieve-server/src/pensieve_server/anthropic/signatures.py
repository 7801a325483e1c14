"""Signatures on the thinking blocks this server writes, so that it knows them when they return.

Anthropic requires a ``signature`` on every thinking block and clients send the blocks back
verbatim. Signed here with HMAC-SHA256 over the reasoning text, a block that comes back with a
valid signature is this server's own model's reasoning and is replayed as such; any other (another
backend's, or edited) is left out of the prompt rather than passed off as the model's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_VERSION = b"pensieve-thinking-v1:"


class ThinkingSigner:
    """Signs and verifies reasoning text with one key."""

    def __init__(self, key: bytes | None = None) -> None:
        # Without a stored key the signatures last as long as this process.
        self._key = key or secrets.token_bytes(32)

    def sign(self, thinking: str) -> str:
        """The signature of ``thinking``."""
        mac = hmac.new(self._key, thinking.encode(), hashlib.sha256).digest()
        return base64.b64encode(_VERSION + mac).decode()

    def verify(self, thinking: str, signature: str) -> bool:
        """Whether ``signature`` is this key's signature of ``thinking``."""
        return hmac.compare_digest(self.sign(thinking), signature)
