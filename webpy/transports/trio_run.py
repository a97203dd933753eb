"""Serving with trio until Ctrl-C or SIGTERM, and exiting cleanly then.

    from webpy.transports.trio_run import run

    run(routes, "localhost", 8000)        # blocks; Ctrl-C stops it gracefully, exit status 0

Why this exists: ``trio.run(serve, ...)`` stops on Ctrl-C, but trio delivers
the KeyboardInterrupt into the serving tasks and it comes out of
``trio.run`` wrapped in a ``BaseExceptionGroup``, a long traceback and exit
status 1 for what is the normal way to stop a server; SIGTERM kills the
process outright, without the grace period. Here both signals are received
as events (``trio.open_signal_receiver``): the first one cancels the
server, which stops accepting and gives requests in flight its
`grace_period`, and `serve_until_signalled` then returns normally.

`serve_until_signalled` is for programs that call ``trio.run`` themselves
(it must run in the main thread, as any signal handling must); `run` does
the ``trio.run`` too.
"""

from __future__ import annotations

import functools
import signal
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import trio

from ..app import Routes
from .trio import Address, addresses, open_listeners, serve_listeners

#: The signals that stop a server: Ctrl-C, and what service managers send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_until_signalled(
    routes: Routes,
    host: str | None = "localhost",
    port: int = 8000,
    *,
    signals: Iterable[int] = STOP_SIGNALS,
    on_ready: Callable[[list[Address]], object] | None = None,
    on_signal: Callable[[int], object] | None = None,
    backlog: int | None = None,
    sockets: Sequence[socket.socket] = (),
    task_status: trio.TaskStatus[list[Address]] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> int:
    """Serve `routes` on `host`:`port` until one of `signals` arrives; return its number.

    The server then stops gracefully (requests in flight get the
    ``grace_period`` option's seconds) before this returns. `on_ready` is
    called with the bound ``(host, port)`` addresses once listening (port 0
    picks a free port), as is ``task_status.started``; `on_signal` with the
    signal's number when one arrives, before the graceful stop. An address
    that cannot be bound raises `OSError` here, not inside an exception
    group. `sockets`, listening sockets made elsewhere (unix, inherited,
    systemd's), are served instead of `host` and `port`. `options` are
    `webpy.transports.trio.Server`'s (``error_routes``, ``ssl_context``,
    ``grace_period``, limits...).
    """
    with trio.open_signal_receiver(*signals) as received:
        listeners = await open_listeners(host, port, backlog=backlog, sockets=sockets)
        bound = addresses(listeners)
        server_scope = trio.CancelScope()
        stopped = trio.Event()

        async def run_server(task_status: trio.TaskStatus[Any]) -> None:
            with server_scope:
                await serve_listeners(routes, listeners, task_status=task_status, **options)
            stopped.set()

        async with trio.open_nursery() as nursery:
            await nursery.start(run_server)
            if on_ready is not None:
                on_ready(bound)
            task_status.started(bound)
            signum = await received.__anext__()
            if on_signal is not None:
                on_signal(signum)
            server_scope.cancel()  # the server's graceful stop
            # The program is stopping as asked: a second Ctrl-C meanwhile asks the same
            # again, so it is consumed here rather than re-raised when the receiver closes.
            nursery.start_soon(_consume, received)
            await stopped.wait()
            nursery.cancel_scope.cancel()
    return signum


def run(routes: Routes, host: str | None = "localhost", port: int = 8000, **options: Any) -> None:
    """Serve `routes` with trio until Ctrl-C or SIGTERM; return once stopped gracefully.

    Call from the main thread. `options` are `serve_until_signalled`'s.
    """
    try:
        trio.run(functools.partial(serve_until_signalled, routes, host, port, **options))
    except* KeyboardInterrupt:  # a Ctrl-C in the moment before the receiver was open
        pass


async def _consume(received: Any) -> None:
    async for _ in received:
        pass
