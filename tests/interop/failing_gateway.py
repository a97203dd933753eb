"""webpy routes as an ASGI app whose start-up hook fails, for the gateway lifespan test."""

from __future__ import annotations

from webpy.gateway import asgi_app


def connect_to_database() -> None:
    raise ConnectionError("database at db.invalid unreachable")


app = asgi_app({}, on_startup=[connect_to_database])
