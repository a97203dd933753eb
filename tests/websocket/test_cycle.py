"""The WebSocket cycle (handshake vetting, then actions) against a fake transport: no socket.

`Performer` does what a transport does with the actions: it writes to a
wsproto client, parks on reads (recording that nothing else runs meanwhile),
runs handler calls in place, and can be woken from another thread.
"""

from __future__ import annotations

import base64
import gc
import logging
import threading
from collections import deque
from typing import Any, ClassVar

import pytest
import trio
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from webpy.app import Application, BasicAuthHandler, Call, HTTPError, Request, Response
from webpy.app.websocket import WebSocketClosed, WebSocketHandler
from webpy.protocol.websocket import switching_protocols
from webpy.transports.actions import Handle, Write
from webpy.transports.websocket import (
    WOKEN,
    HookCall,
    Upgrade,
    WebSocketRead,
    is_websocket,
    serve,
    vet,
)

from .wsclient import ByteClient, parse_request_head


class Performer:
    """A transport in miniature: performs the cycle's actions in the calling thread."""

    def __init__(self, upgrade: Upgrade, client: ByteClient, trailing: bytes = b"", *,
                 wakeable: bool = True, busy: bool = False) -> None:
        self.client = client
        self.inbox: deque[bytes] = deque()
        self.parked: WebSocketRead | None = None
        self.wakeable = wakeable
        self.busy = busy
        self.finished = False
        self.woken = threading.Event()
        self.handled = 0
        self._steps = serve(upgrade, trailing)
        self._advance(next(self._steps))

    def send(self, *events: Any) -> None:
        """The client sends these wsproto events (as one read)."""
        self.deliver(b"".join(self.client.send(event) for event in events))

    def deliver(self, data: bytes) -> None:
        self.inbox.append(data)
        self._resume_with(self.inbox.popleft())

    def time_out(self) -> None:
        self._resume_with(None)

    def resume_woken(self) -> None:
        assert self.woken.is_set()
        self.woken.clear()
        self._resume_with(WOKEN)

    def drop(self) -> None:
        """The transport gives up on the connection (client vanished, server stopped)."""
        self._steps.close()
        self.finished = True

    def _wake(self) -> None:
        self.woken.set()

    def _resume_with(self, result: Any) -> None:
        assert self.parked is not None and not self.finished
        self.parked = None
        try:
            action = self._steps.send(result)
        except StopIteration:
            self.finished = True
            return
        self._advance(action)

    def _advance(self, action: Any) -> None:
        try:
            while True:
                if isinstance(action, WebSocketRead):
                    if self.inbox:
                        result: Any = self.inbox.popleft()
                    elif self.wakeable and action.park(self._wake):
                        result = WOKEN
                    else:
                        self.parked = action
                        return
                elif isinstance(action, Write):
                    data = action.data
                    self.client.feed(data if isinstance(data, bytes) else b"".join(data))
                    result = None
                elif isinstance(action, Handle):
                    self.handled += 1
                    if self.busy:
                        result = action.call.fail(HTTPError(503, "busy"))
                    else:
                        result = action.call.run(action.body)
                else:
                    raise AssertionError(f"unexpected action {action!r}")
                action = self._steps.send(result)
        except StopIteration:
            self.finished = True


KEY = base64.b64encode(b"sixteen byte key").decode()


def begin(routes: dict[str, Any], client: ByteClient, *, after: bytes = b"",
          headers: list[tuple[bytes, bytes]] | None = None
          ) -> tuple[Call | Response, bytes, Application]:
    """Route the client's handshake as the request cycle does; the call and trailing bytes."""
    method, version, fields, trailing = parse_request_head(client.handshake() + after)
    app = Application(routes)
    request = Request(method, client.target, [(n.encode(), v.encode()) for n, v in fields]
                      + (headers or []), http_version=version, client=("127.0.0.1", 1))
    return app.begin(request), trailing, app


def open_socket(routes: dict[str, Any], client: ByteClient | None = None, *, after: bytes = b"",
                **options: Any) -> Performer:
    client = client or ByteClient()
    begun, trailing, _ = begin(routes, client, after=after)
    assert isinstance(begun, Call) and is_websocket(begun)
    upgrade = vet(begun)
    assert isinstance(upgrade, Upgrade), upgrade
    return Performer(upgrade, client, trailing, **options)


class Recorder(WebSocketHandler):
    """Echoes, and records what happened to it in `log` (class-level, reset per test)."""

    log: ClassVar[list[Any]] = []

    def on_connect(self) -> None:
        self.log.append(("connect", self.subprotocol, threading.current_thread().name))
        self.send("welcome")

    def on_message(self, message: str | bytes) -> None:
        self.log.append(("message", message))
        if message == "boom":
            raise RuntimeError("the handler failed")
        if message == "bye":
            self.close(4000, "asked to")
            return
        self.send(message)

    def on_close(self, code: int, reason: str) -> None:
        self.log.append(("close", code, reason))


@pytest.fixture(autouse=True)
def fresh_log() -> None:
    gc.collect()  # an earlier test's abandoned socket reports its close (1006) now, not later
    Recorder.log = []


ROUTES = {"/ws": Recorder}


# -- the handshake, vetted like any request -------------------------------------------


def test_a_plain_get_on_a_websocket_route_gets_426_with_upgrade() -> None:
    app = Application(ROUTES)
    begun = app.begin(Request("GET", "/ws", [(b"Host", b"x")]))
    assert isinstance(begun, Call)
    refused = vet(begun)
    assert isinstance(refused, Response) and refused.status == 426
    assert refused.headers["Upgrade"] == "websocket"
    assert Recorder.log == []


def test_a_handshake_with_another_version_gets_426_naming_version_13() -> None:
    client = ByteClient()
    begun, _, _ = begin(ROUTES, client)
    assert isinstance(begun, Call)
    begun.request.headers["Sec-WebSocket-Version"] = "8"
    refused = vet(begun)
    assert isinstance(refused, Response) and refused.status == 426
    assert refused.headers["Sec-WebSocket-Version"] == "13"


def test_a_page_from_another_site_is_refused_403_but_the_own_origin_passes() -> None:
    foreign = ByteClient(extra_headers=[(b"Origin", b"https://evil.example")])
    begun, _, _ = begin(ROUTES, foreign)
    assert isinstance(begun, Call)
    refused = vet(begun)
    assert isinstance(refused, Response) and refused.status == 403
    own = ByteClient(extra_headers=[(b"Origin", b"http://localhost")])
    begun, _, _ = begin(ROUTES, own)
    assert isinstance(begun, Call) and isinstance(vet(begun), Upgrade)


def test_origins_the_app_allows_pass() -> None:
    class Open(Recorder):
        allowed_origins = frozenset({"https://partner.example"})

    client = ByteClient(extra_headers=[(b"Origin", b"https://partner.example")])
    begun, _, _ = begin({"/ws": Open}, client)
    assert isinstance(begun, Call) and isinstance(vet(begun), Upgrade)


def test_prepare_refuses_before_any_upgrade_so_authentication_works() -> None:
    class Private(BasicAuthHandler, Recorder):
        users: ClassVar[dict[str, str]] = {"alice": "secret"}

    begun, _, _ = begin({"/ws": Private}, ByteClient())
    assert isinstance(begun, Response) and begun.status == 401
    credentials = base64.b64encode(b"alice:secret")
    begun, _, _ = begin({"/ws": Private}, ByteClient(),
                        headers=[(b"Authorization", b"Basic " + credentials)])
    assert isinstance(begun, Call) and isinstance(vet(begun), Upgrade)


def test_the_handler_picks_a_subprotocol_the_client_offered() -> None:
    class Chat(Recorder):
        subprotocols = ("chat.v2", "chat.v1")

    performer = open_socket({"/ws": Chat}, ByteClient(subprotocols=("chat.v1", "chat.v2")))
    assert performer.client.subprotocol == "chat.v2"
    assert Recorder.log[0][:2] == ("connect", "chat.v2")


def test_the_101_carries_the_accept_token() -> None:
    client = ByteClient()
    begun, _, _ = begin(ROUTES, client)
    upgrade = vet(begun)  # type: ignore[arg-type]
    assert isinstance(upgrade, Upgrade)
    head = switching_protocols(upgrade.fields)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: " in head


# -- messages ------------------------------------------------------------------------


def test_echo_with_a_greeting_from_on_connect() -> None:
    performer = open_socket(ROUTES)
    assert performer.client.accepted
    performer.send(TextMessage(data="hello"), BytesMessage(data=b"\x01\x02"))
    assert performer.client.messages() == ["welcome", "hello", b"\x01\x02"]
    assert Recorder.log[1:] == [("message", "hello"), ("message", b"\x01\x02")]


def test_an_open_websocket_waits_like_an_idle_connection_and_runs_nothing() -> None:
    performer = open_socket(ROUTES)
    handled = performer.handled
    assert isinstance(performer.parked, WebSocketRead)
    assert performer.parked.seconds == Recorder.ping_interval
    # Half a message: still waiting, no handler call (no worker) for a partial message.
    frame = performer.client.send(TextMessage(data="split message"))
    performer.deliver(frame[:5])
    assert performer.handled == handled and isinstance(performer.parked, WebSocketRead)
    performer.deliver(frame[5:])
    assert performer.handled == handled + 1
    assert performer.client.messages()[-1] == "split message"


def test_bytes_that_came_with_the_handshake_are_served_first() -> None:
    from wsproto.frame_protocol import FrameProtocol

    early = FrameProtocol(client=True, extensions=[]).send_data("early bird", True)
    performer = open_socket(ROUTES, after=early)
    assert Recorder.log[1] == ("message", "early bird")
    assert performer.client.messages() == ["welcome", "early bird"]


def test_fragments_from_the_client_reach_on_message_as_one_message() -> None:
    performer = open_socket(ROUTES)
    performer.send(TextMessage(data="a", message_finished=False),
                   TextMessage(data="b", message_finished=False))
    performer.send(TextMessage(data="c", message_finished=True))
    assert Recorder.log[1:] == [("message", "abc")]


def test_an_oversized_message_closes_with_1009_and_never_reaches_the_handler() -> None:
    class Small(Recorder):
        max_message_bytes = 10

    performer = open_socket({"/ws": Small})
    performer.send(BytesMessage(data=b"x" * 11))
    close = performer.client.close_event()
    assert close is not None and close.code == 1009
    performer.send(close.response())
    assert performer.finished
    assert Recorder.log[1:] == [("close", 1009, "message too big")]


# -- closing -------------------------------------------------------------------------


def test_the_client_closing_runs_on_close_once_and_ends_the_connection() -> None:
    performer = open_socket(ROUTES)
    performer.send(CloseConnection(code=1000, reason="done"))
    assert performer.finished
    assert performer.client.close_event() is not None
    assert Recorder.log[1:] == [("close", 1000, "done")]


def test_the_handler_closing_sends_its_code_and_waits_for_the_answer() -> None:
    performer = open_socket(ROUTES)
    performer.send(TextMessage(data="bye"))
    close = performer.client.close_event()
    assert close == CloseConnection(code=4000, reason="asked to")
    assert not performer.finished
    performer.send(close.response())
    assert performer.finished and Recorder.log[-1] == ("close", 4000, "asked to")


def test_a_failing_handler_closes_with_1011_and_is_logged(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    performer = open_socket(ROUTES)
    with caplog.at_level(logging.ERROR, "webpy"):
        performer.send(TextMessage(data="boom"))
    close = performer.client.close_event()
    assert close is not None and close.code == 1011
    assert "the handler failed" in caplog.text


def test_send_after_close_is_a_clear_error() -> None:
    captured: list[WebSocketHandler] = []

    class Keep(Recorder):
        def on_connect(self) -> None:
            captured.append(self)

    performer = open_socket({"/ws": Keep})
    performer.send(CloseConnection(code=1000))
    assert performer.finished
    with pytest.raises(WebSocketClosed):
        captured[0].send("too late")
    assert not captured[0].is_open


def test_no_free_worker_closes_with_1013_try_again_later() -> None:
    performer = open_socket(ROUTES, busy=True)
    close = performer.client.close_event()
    assert close is not None and close.code == 1013


def test_the_client_vanishing_or_the_transport_dropping_runs_on_close_1006_once() -> None:
    performer = open_socket(ROUTES)
    performer.deliver(b"")
    assert performer.finished and Recorder.log[1:] == [("close", 1006, "")]
    Recorder.log = []
    performer = open_socket(ROUTES)
    performer.drop()
    assert Recorder.log[1:] == [("close", 1006, "connection lost")]


# -- keep-alive --------------------------------------------------------------------------


def test_silence_brings_a_ping_and_an_unanswered_one_ends_the_socket() -> None:
    class Quick(Recorder):
        ping_interval = 3.0
        ping_timeout = 2.0

    performer = open_socket({"/ws": Quick})
    assert performer.parked is not None and performer.parked.seconds == 3.0
    performer.time_out()
    assert len(performer.client.pings()) == 1
    assert performer.parked is not None and performer.parked.seconds == 2.0
    performer.send(performer.client.pings()[0].response())  # the pong: alive
    assert performer.parked is not None and performer.parked.seconds == 3.0
    performer.time_out()
    performer.time_out()  # this ping went unanswered
    assert performer.finished
    assert Recorder.log[-1] == ("close", 1006, "no reply to a ping")


def test_pings_from_the_client_are_answered_without_running_the_handler() -> None:
    performer = open_socket(ROUTES)
    handled = performer.handled
    performer.send(Ping(b"hi"))
    assert performer.handled == handled
    assert any(getattr(e, "payload", None) == b"hi" for e in performer.client.events)


def test_a_graceful_stop_closes_with_1001_going_away() -> None:
    performer = open_socket(ROUTES)
    assert performer.parked is not None
    performer.parked.going_away()
    performer.time_out()  # the transport expires the read at once
    close = performer.client.close_event()
    assert close is not None and close.code == 1001
    performer.send(close.response())
    assert performer.finished


# -- server push ------------------------------------------------------------------------


def test_a_push_from_another_thread_wakes_the_parked_socket() -> None:
    captured: list[WebSocketHandler] = []

    class Room(Recorder):
        def on_connect(self) -> None:
            captured.append(self)

    performer = open_socket({"/ws": Room})
    assert performer.parked is not None and not performer.woken.is_set()
    pusher = threading.Thread(target=captured[0].send, args=("news",))
    pusher.start()
    pusher.join()
    assert performer.woken.is_set()
    performer.resume_woken()
    assert performer.client.messages() == ["news"]
    assert isinstance(performer.parked, WebSocketRead)


def test_without_a_wake_hook_a_push_goes_out_at_the_next_event() -> None:
    captured: list[WebSocketHandler] = []

    class Room(Recorder):
        def on_connect(self) -> None:
            captured.append(self)

    performer = open_socket({"/ws": Room}, wakeable=False)
    captured[0].send("queued")
    assert performer.client.messages() == []
    performer.time_out()  # the keep-alive ping turn flushes it
    assert performer.client.messages() == ["queued"]


# -- async handlers (trio) -----------------------------------------------------------------


def test_async_on_message_is_awaited_by_run_async() -> None:
    received: list[Any] = []

    class Async(WebSocketHandler):
        async def on_message(self, message: str | bytes) -> None:
            await trio.sleep(0)
            received.append(message)
            self.send(f"async {message}")

    client = ByteClient()
    begun, _, _ = begin({"/ws": Async}, client)
    assert isinstance(begun, Call)
    upgrade = vet(begun)
    assert isinstance(upgrade, Upgrade)
    sink = _Sink()
    call = HookCall(upgrade.call, sink, upgrade.handler.on_message, "hi")  # type: ignore[arg-type]
    assert call.is_async
    upgrade.handler.attach(sink, None)
    outcome = trio.run(call.run_async)
    assert outcome.status == 200 and received == ["hi"]


class _Sink:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.perform = None

    def send(self, message: str | bytes) -> None:
        self.sent.append(message)

    def close(self, code: int, reason: str) -> None:
        pass

    @property
    def is_open(self) -> bool:
        return True
