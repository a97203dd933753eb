"""A server of each socket transport, started with options, as its (host, port)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from harness import ThreadedHarness
from harness_trio import TrioHarness

TRANSPORTS = {"threaded": ThreadedHarness, "trio": TrioHarness}

ServerFactory = Callable[..., contextlib.AbstractContextManager[tuple[str, int]]]


def factory(transport: str) -> ServerFactory:
    """``with serve(routes, **options) as (host, port):`` on `transport`."""

    @contextlib.contextmanager
    def serve(routes: Any, **options: Any) -> Iterator[tuple[str, int]]:
        with TRANSPORTS[transport]().serve(routes, **options) as server:
            yield server.address

    return serve
