"""A worker process that serves with trio: ``--transport trio --processes N``.

The parent of worker processes (`HTTPServer` with `processes > 1`, and its
supervisor in `processes.py`) neither serves nor cares how a worker does:
in the worker it calls `start()`, which returns once the worker accepts,
and `stop(timeout, handing_over)`, a graceful stop. The threaded worker is
the epoll loop; this one runs trio in a thread of the worker process, with a
trio `Server` that serves the worker's listening sockets and shares the
parent's `Site` (the application, limits, timeouts, forwarding rules and
the cross-process lock table), so ``async def`` handlers run on trio as they
do in a single trio server.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import trio

from .driver import Site
from .trio import Server, open_listeners

if TYPE_CHECKING:
    from .threaded import HTTPServer


class TrioWorker:
    """Serve `sockets` with trio in a thread until `stop`; `site` as the parent made it."""

    def __init__(self, site: Site, sockets: Sequence[socket.socket], *,
                 ssl_context: ssl.SSLContext | None, threads: int, max_connections: int,
                 queue_size: int, proxy_protocol: bool | Collection[socket.socket]) -> None:
        self._server = Server({}, ssl_context=ssl_context, thread_limit=threads,
                              max_connections=max_connections, queue_size=queue_size,
                              proxy_protocol=proxy_protocol, site=site)
        self._sockets = sockets
        self._token: trio.lowlevel.TrioToken | None = None
        self._serving = trio.CancelScope()
        self._started = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._serve,),
                                        name="webpy-trio")

    @classmethod
    def serving(cls, server: HTTPServer) -> TrioWorker:
        """Started: serving `server`'s sockets with its site and options."""
        worker = cls(server.site, server.sockets, ssl_context=server.ssl_context,
                     threads=server.threads, max_connections=server.max_connections,
                     queue_size=server.queue_size, proxy_protocol=server.proxy_protocol)
        worker.start()
        return worker

    def start(self) -> None:
        """Return once the worker accepts connections."""
        self._thread.start()
        while not self._started.wait(1.0):
            if not self._thread.is_alive():
                raise RuntimeError("the trio worker did not start")

    def stop(self, timeout: float) -> None:
        """Stop accepting; requests in flight get `timeout` seconds (see `Server.serve`)."""
        self._server.grace_period = timeout
        if self._token is not None:
            try:
                trio.from_thread.run_sync(self._serving.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout + 1.0)

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        listeners = await open_listeners(None, 0, sockets=self._sockets)
        with self._serving:
            await self._server.serve(listeners, self._started.set)
