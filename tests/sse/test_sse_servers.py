"""Server-sent events over real sockets (threaded and trio, TLS too) with httpx, and in memory."""

from __future__ import annotations

import contextlib
import functools
import queue
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import webpy as web
from webpy.app.sse import Event, EventStream, EventStreamHandler, StreamClosed
from webpy.transports.memory import Client

#: Turns a hang into a failure; never a measure of speed.
HANG = 10.0
#: Heartbeats this short make a client that left show up within a few of them.
HEARTBEAT = 0.05


class Streams:
    """The streams the app opened, handed to the test as they open."""

    def __init__(self) -> None:
        self.opened: queue.Queue[EventStream] = queue.Queue()
        self.closed = threading.Event()
        self.generator_done = threading.Event()

    def next(self) -> EventStream:
        return self.opened.get(timeout=HANG)


def make_routes(streams: Streams) -> dict[str, Any]:
    class Feed(EventStreamHandler):
        def do_get(self) -> Any:
            stream = EventStream(heartbeat=HEARTBEAT)
            stream.on_close(streams.closed.set)
            if self.last_event_id is not None:
                stream.send(f"resuming after {self.last_event_id}", event="resume")
            streams.opened.put(stream)
            return 200, stream

    class Ticks(EventStreamHandler):
        """A generator of events: its `finally` is the app's cleanup."""

        def do_get(self) -> Any:
            def ticks() -> Iterator[Event | str]:
                try:
                    number = 0
                    while True:
                        number += 1
                        yield Event(str(number), id=str(number))
                        streams.closed.wait(HEARTBEAT)  # the app's own wait between events
                finally:
                    streams.generator_done.set()

            return 200, ticks()

    class Finite(EventStreamHandler):
        def do_get(self) -> Any:
            stream = EventStream()
            for word in ("one", "two", "three"):
                stream.send(word, event="word")
            stream.end()
            return 200, stream

    class AsyncTicks(EventStreamHandler):
        """An async generator on trio: no thread at all while it waits."""

        async def do_get(self) -> Any:
            import trio

            async def ticks() -> AsyncIterator[Event]:
                try:
                    number = 0
                    while True:
                        number += 1
                        yield Event(str(number), event="tick")
                        await trio.sleep(HEARTBEAT)
                finally:
                    streams.generator_done.set()

            return 200, ticks()

    return {"/feed": Feed, "/ticks": Ticks, "/finite": Finite, "/async-ticks": AsyncTicks}


# -- servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def threaded(routes: dict[str, Any], ssl_context: ssl.SSLContext | None = None
             ) -> Iterator[tuple[str, Any]]:
    server = web.HTTPServer(("127.0.0.1", 0), routes, threads=4, ssl_context=ssl_context)
    server.start()
    try:
        yield server.url.rstrip("/"), server
    finally:
        server.stop(timeout=1.0)


@contextlib.contextmanager
def on_trio(routes: dict[str, Any], ssl_context: ssl.SSLContext | None = None
            ) -> Iterator[tuple[str, Any]]:
    from harness_trio import running_in_thread

    from webpy.transports.trio import serve

    start = functools.partial(serve, routes, "127.0.0.1", 0, ssl_context=ssl_context,
                              thread_limit=8, grace_period=1.0)
    with running_in_thread(start) as (addresses, _):
        host, port = addresses[0][:2]
        yield f"{'https' if ssl_context else 'http'}://{host}:{port}", None


SERVERS = {"threaded": threaded, "trio": on_trio}


@pytest.fixture(params=sorted(SERVERS))
def serving(request: pytest.FixtureRequest) -> Any:
    return SERVERS[request.param]


def read_events(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next `count` events (comments skipped), each as its fields."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line == "":
            if fields:
                events.append(fields)
                fields = {}
                if len(events) == count:
                    return events
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    raise AssertionError(f"the stream ended after {events}")


# -- tests -------------------------------------------------------------------------------


def test_headers_arrive_before_any_event_and_each_event_at_once(serving: Any) -> None:
    streams = Streams()
    with serving(make_routes(streams)) as (url, _), httpx.Client(timeout=HANG) as client, \
            client.stream("GET", url + "/feed") as response:
        # The head came although no event exists yet: nothing waits in a buffer.
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = streams.next()
        lines = response.iter_lines()
        for number in range(3):  # each event is read before the next one is sent
            stream.send(f"message {number}", id=str(number), event="note")
            assert read_events(lines, 1) == [
                {"event": "note", "id": str(number), "data": f"message {number}"}]


def test_a_reconnecting_client_s_last_event_id_reaches_the_handler(serving: Any) -> None:
    streams = Streams()
    with serving(make_routes(streams)) as (url, _), httpx.Client(timeout=HANG) as client, \
            client.stream("GET", url + "/feed", headers={"Last-Event-ID": "41"}) as response:
        streams.next()
        assert read_events(response.iter_lines(), 1) == [
            {"event": "resume", "data": "resuming after 41"}]


def test_the_app_learns_within_a_second_that_the_client_left(serving: Any) -> None:
    streams = Streams()
    with serving(make_routes(streams)) as (url, _):
        with httpx.Client(timeout=HANG) as client, \
                client.stream("GET", url + "/feed") as response:
            stream = streams.next()
            stream.send("hello")
            lines = response.iter_lines()  # kept: a dropped iterator closes the connection
            assert read_events(lines, 1) == [{"data": "hello"}]
            assert not streams.closed.is_set()
        # The client hung up. The next heartbeat finds the connection gone.
        assert streams.closed.wait(1.0), "the stream's on_close did not run within 1 s"
        assert not stream.open
        with pytest.raises(StreamClosed):
            stream.send("nobody is listening")


def test_a_generator_s_cleanup_runs_within_a_second_of_the_client_leaving(serving: Any) -> None:
    streams = Streams()
    with serving(make_routes(streams)) as (url, _):
        with httpx.Client(timeout=HANG) as client, \
                client.stream("GET", url + "/ticks") as response:
            lines = response.iter_lines()  # kept: a dropped iterator closes the connection
            assert read_events(lines, 2) == [
                {"id": "1", "data": "1"}, {"id": "2", "data": "2"}]
            assert not streams.generator_done.is_set()
        assert streams.generator_done.wait(1.0), "the generator's finally did not run in 1 s"


def test_an_async_generator_s_cleanup_runs_within_a_second_of_the_client_leaving() -> None:
    streams = Streams()
    with on_trio(make_routes(streams)) as (url, _):
        with httpx.Client(timeout=HANG) as client, \
                client.stream("GET", url + "/async-ticks") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert read_events(response.iter_lines(), 2) == [
                {"event": "tick", "data": "1"}, {"event": "tick", "data": "2"}]
            assert not streams.generator_done.is_set()
        assert streams.generator_done.wait(1.0), "the generator's finally did not run in 1 s"


def test_a_graceful_stop_ends_open_event_streams_cleanly(serving: Any) -> None:
    streams = Streams()
    with httpx.Client(timeout=HANG) as client:
        with serving(make_routes(streams)) as (url, _):
            response = client.send(client.build_request("GET", url + "/feed"), stream=True)
            stream = streams.next()
            stream.send("before the stop")
            lines = response.iter_lines()
            assert read_events(lines, 1) == [{"data": "before the stop"}]
        # Leaving the block stopped the server, which ended the stream cleanly: the
        # response is complete (its last chunk came), the app's stream is closed.
        assert all(line.startswith(":") or not line for line in lines)  # heartbeats, then the end
        assert streams.closed.wait(HANG)
        response.close()


def test_event_stream_over_tls(serving: Any, server_ssl_context: ssl.SSLContext,
                               client_ssl_context: ssl.SSLContext) -> None:
    streams = Streams()
    with serving(make_routes(streams), server_ssl_context) as (url, _), \
            httpx.Client(timeout=HANG, verify=client_ssl_context) as client, \
            client.stream("GET", url.replace("127.0.0.1", "localhost") + "/feed") as response:
        assert url.startswith("https://")
        streams.next().send("secret", id="s1")
        assert read_events(response.iter_lines(), 1) == [{"id": "s1", "data": "secret"}]


def test_a_raw_socket_sees_each_event_as_one_chunk(serving: Any) -> None:
    streams = Streams()
    with serving(make_routes(streams)) as (url, _):
        host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=HANG) as sock:
            sock.sendall(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"stream open" not in received:
                received += sock.recv(65536)
            assert b"Transfer-Encoding: chunked" in received
            streams.next().send("x")
            expected = b"data: x\n\n"
            while expected not in received:
                received += sock.recv(65536)
            assert b"%x\r\n%s\r\n" % (len(expected), expected) in received


def test_the_in_memory_client_reads_a_stream_the_app_ended() -> None:
    client = Client(make_routes(Streams()))
    response = client.get("/finite")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.body.decode().split("\n\n")[1:4] == [
        "event: word\ndata: one", "event: word\ndata: two", "event: word\ndata: three"]
