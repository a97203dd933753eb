"""Test support for the trio transport: conformance harnesses, test clients, utilities.

The two conformance harnesses ("trio" over real TCP, "trio-memory" over
trio's memory streams) both run `trio.run` in a background thread for the
duration of `serve`: the server reports readiness through `task_status` (a
`threading.Event` wakes the test thread), and is cancelled, which is its
graceful stop, on exit. The TCP harness hands out ordinary sockets; the
memory one hands out the client end of a `trio.testing.memory_stream_pair`,
driven from the test thread with `trio.from_thread.run`.

The rest of the module serves the transport's own tests (tests/trio), which
run inside `trio.run` (no pytest plugin), mostly over
`trio.testing.memory_stream_pair`; with a `trio.testing.MockClock`, timeouts
there are deterministic, since virtual time only moves once every task waits.

Names from `harness` are imported where used: `harness` imports this module
at its end, so it must not import `harness` at the top.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import runpy
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import h11
import trio
import trio.testing

from webpy.app import Headers
from webpy.transports.memory import ClientResponse
from webpy.transports.trio import Server, serve

#: Grace period of the servers here: enough for a request in flight, short on exit.
GRACE_PERIOD = 1.0
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Turns a hang into a failure; never a measure of speed.
HANG_TIMEOUT = 10.0


@contextlib.contextmanager
def running_in_thread(start: Callable[..., Awaitable[Any]]
                      ) -> Iterator[tuple[Any, trio.lowlevel.TrioToken]]:
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


# -- for the trio transport's own tests ----------------------------------------


def load_example(name: str) -> dict[str, Any]:
    """The globals of ``examples/<name>.py``, without running its ``__main__`` part."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))


def run(main: Callable[[], Awaitable[None]], *, mock_clock: bool = False) -> None:
    """`trio.run(main)`, failing instead of hanging; with `mock_clock`, in virtual time."""

    async def guarded() -> None:
        with trio.fail_after(HANG_TIMEOUT * (1000 if mock_clock else 1)):
            await main()

    clock = trio.testing.MockClock(autojump_threshold=0) if mock_clock else None
    trio.run(guarded, clock=clock)


def connect(server: Server, nursery: trio.Nursery) -> trio.abc.HalfCloseableStream:
    """A new memory-stream connection to `server`, served in `nursery`."""
    client, server_side = trio.testing.memory_stream_pair()
    nursery.start_soon(server.serve_stream, server_side, ("127.0.0.1", 40000))
    return client


def request(method: str, target: str, body: bytes = b"", *headers: tuple[str, str]) -> bytes:
    """A request's bytes; a body gets a Content-Length unless `headers` frame it."""
    lines = [f"{method} {target} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body and not any(name.lower() == "transfer-encoding" for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Reader:
    """Reads the responses on one client stream, in order, with h11's client side."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self._leftover = b""
        #: Response body bytes received so far, as they arrive.
        self.body_bytes = 0

    async def response(self, method: str = "GET") -> ClientResponse | None:
        """The next whole response, or None if the server closed first."""
        peer = h11.Connection(h11.CLIENT)
        peer.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        peer.send(h11.EndOfMessage())
        if self._leftover:
            peer.receive_data(self._leftover)
            self._leftover = b""
        head: h11.Response | None = None
        interim: list[int] = []
        body = bytearray()
        while True:
            event = peer.next_event()
            if event is h11.NEED_DATA:
                data = await self.stream.receive_some(65536)
                if not data and head is None and peer.their_state is h11.IDLE:
                    return None
                peer.receive_data(bytes(data))
            elif type(event) is h11.InformationalResponse:
                interim.append(event.status_code)
            elif type(event) is h11.Response:
                head = event
            elif type(event) is h11.Data:
                body += event.data
                self.body_bytes += len(event.data)
            elif type(event) in (h11.EndOfMessage, h11.ConnectionClosed):
                break
        self._leftover = peer.trailing_data[0]
        assert head is not None
        headers = Headers([(name.decode("latin-1"), value.decode("latin-1"))
                           for name, value in head.headers.raw_items()])
        return ClientResponse(head.status_code, head.reason.decode("latin-1"), headers,
                              bytes(body), head.http_version.decode(), tuple(interim))

    async def rest(self) -> bytes:
        """Everything until the server closes."""
        chunks = [self._leftover]
        self._leftover = b""
        while chunk := await self.stream.receive_some(65536):
            chunks.append(bytes(chunk))
        return b"".join(chunks)


async def fetch(server: Server, nursery: trio.Nursery, method: str, target: str,
                body: bytes = b"", *headers: tuple[str, str]) -> ClientResponse:
    """One request on a fresh memory connection; its response."""
    stream = connect(server, nursery)
    await stream.send_all(request(method, target, body, *headers))
    response = await Reader(stream).response(method)
    await stream.aclose()
    assert response is not None
    return response


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose clients are memory stream pairs, for `serve_listeners` tests."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](100)
        self.closed = False

    async def connect(self) -> trio.abc.HalfCloseableStream:
        """A client stream whose other end the server will accept."""
        client, server_side = trio.testing.memory_stream_pair()
        await self._send.send(server_side)
        return client

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self._receive.receive()
        except trio.ClosedResourceError:
            raise trio.ClosedResourceError("listener closed") from None

    async def aclose(self) -> None:
        self.closed = True
        await self._receive.aclose()
