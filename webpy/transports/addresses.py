"""Addresses as users see them."""

from __future__ import annotations


def url(address: tuple[str, int], scheme: str = "http") -> str:
    """The URL of a server listening on `address`, e.g. ``http://[::1]:8000/``."""
    host, port = address
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"
