"""Listening addresses: which are local-only, and the base URL clients use for one."""

from __future__ import annotations

import ipaddress

ANY_ADDRESS = ("0.0.0.0", "::", "")
"""Host values that bind every interface."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts local connections (anything else needs API keys)."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int, *, client: bool = True) -> str:
    """The base URL clients on this machine use (``client``), or the bound address as it is."""
    if client and host in ANY_ADDRESS:
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
