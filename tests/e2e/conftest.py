"""The end-to-end tests use the session's real server (``server_url`` in tests/conftest.py)."""

from tests.servers import API_KEY

__all__ = ["API_KEY"]
