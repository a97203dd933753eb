"""The trio transport's conformance harnesses: over real TCP, and over trio's memory streams.

Both run `trio.run` in a background thread for the duration of `serve`: the
server reports readiness through `task_status` (a `threading.Event` wakes the
test thread), and is cancelled, which is its graceful stop, on exit. The TCP
harness hands out ordinary sockets; the memory one hands out the client end
of a `trio.testing.memory_stream_pair`, driven from the test thread with
`trio.from_thread.run`.

Names from `harness` are imported where used: `harness` imports this module
at its end, so it must not import `harness` at the top.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import trio
import trio.testing

from webpy.transports.trio import Server, serve

#: Grace period of the servers here: enough for a request in flight, short on exit.
GRACE_PERIOD = 1.0


@contextlib.contextmanager
def running_in_thread(start: Callable[..., Awaitable[Any]]) -> Iterator[tuple[Any, trio.lowlevel.TrioToken]]:
    """Run ``await nursery.start(start)`` under `trio.run` in a new thread.

    Yields what `start` reported with `task_status.started()` and the run's
    token; on exit cancels the run and waits for the thread. An exception in
    the run is raised in the caller.
    """
    from harness import CLIENT_TIMEOUT

    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["token"] = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            state["scope"] = nursery.cancel_scope
            state["started"] = await nursery.start(start)
            ready.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as error:
            state["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="trio-server", daemon=True)
    thread.start()
    if not ready.wait(CLIENT_TIMEOUT):
        raise TimeoutError("the trio server did not start")
    if "error" in state:
        raise state["error"]
    try:
        yield state["started"], state["token"]
    finally:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(state["scope"].cancel, trio_token=state["token"])
        thread.join(CLIENT_TIMEOUT)
        if thread.is_alive():
            raise TimeoutError("the trio server did not stop")
        if "error" in state:
            raise state["error"]


# -- over TCP --------------------------------------------------------------------------


class TrioHarness:
    name = "trio"

    @contextlib.contextmanager
    def serve(self, routes: Any, error_routes: Any = None, **options: Any) -> Iterator[Any]:
        from harness import SocketServer

        start = functools.partial(serve, routes, "127.0.0.1", 0, error_routes=error_routes,
                                  thread_limit=8, grace_period=GRACE_PERIOD, **options)
        with running_in_thread(start) as (addresses, _):
            yield SocketServer(addresses[0])


# -- over memory streams -------------------------------------------------------------------


class TrioMemoryConnection:
    """The client end of a memory stream pair, as a `harness.RawConnection`."""

    def __init__(self, stream: trio.abc.HalfCloseableStream, token: trio.lowlevel.TrioToken
                 ) -> None:
        self._stream = stream
        self._token = token
        self._closed = False

    def send(self, data: bytes) -> None:
        self._call(self._send, data)

    def close_write(self) -> None:
        self._call(self._stream.send_eof)

    def receive(self) -> bytes:
        return self._call(self._receive)  # type: ignore[no-any-return]

    def receive_until_closed(self) -> bytes:
        chunks = []
        while chunk := self.receive():
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(trio.RunFinishedError):
                self._call(self._stream.aclose)

    def _call(self, function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return trio.from_thread.run(function, *args, trio_token=self._token)

    async def _send(self, data: bytes) -> None:
        # As on a socket: bytes sent after the server closed are lost, not an error.
        try:
            await self._stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async def _receive(self) -> bytes:
        from harness import CLIENT_TIMEOUT

        try:
            with trio.fail_after(CLIENT_TIMEOUT):
                return bytes(await self._stream.receive_some(65536))
        except trio.TooSlowError:
            raise TimeoutError("the server sent nothing") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""


class TrioMemoryServer:
    """Opens connections to a `Server` as memory stream pairs, inside its trio run."""

    def __init__(self, server: Server, nursery: trio.Nursery,
                 token: trio.lowlevel.TrioToken) -> None:
        self._server = server
        self._nursery = nursery
        self._token = token
        self._ports = itertools.count(40000)

    def connect(self) -> TrioMemoryConnection:
        stream = trio.from_thread.run(self._open, trio_token=self._token)
        return TrioMemoryConnection(stream, self._token)

    async def _open(self) -> trio.abc.HalfCloseableStream:
        client, server_side = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._server.serve_stream, server_side,
                                 ("127.0.0.1", next(self._ports)))
        return client


class TrioMemoryHarness:
    name = "trio-memory"

    @contextlib.contextmanager
    def serve(self, routes: Any, error_routes: Any = None, **options: Any) -> Iterator[Any]:
        server = Server(routes, error_routes, thread_limit=8, **options)

        async def host(task_status: trio.TaskStatus[trio.Nursery]) -> None:
            async with trio.open_nursery() as nursery:
                task_status.started(nursery)
                await trio.sleep_forever()

        with running_in_thread(host) as (nursery, token):
            yield TrioMemoryServer(server, nursery, token)
