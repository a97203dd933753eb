"""The sans-IO WebSocket session against wsproto's client, byte for byte: no socket."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import Opcode

from webpy.protocol import NEED_DATA
from webpy.protocol.websocket import (
    ABNORMAL_CLOSURE,
    MESSAGE_TOO_BIG,
    Closed,
    HandshakeError,
    Message,
    SessionClosed,
    read_handshake,
)

from .wsclient import ByteClient, masked_frame, open_pair, parse_request_head

KEY = base64.b64encode(b"0123456789abcdef").decode()
GOOD = [("Host", "x"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]


def _without(name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in GOOD if n != name]


# -- the handshake ---------------------------------------------------------------------


def test_a_plain_get_is_told_to_upgrade_with_426_and_an_upgrade_header() -> None:
    with pytest.raises(HandshakeError) as refused:
        read_handshake("GET", "1.1", [("Host", "x")])
    assert refused.value.status_code == 426
    assert ("Upgrade", "websocket") in refused.value.headers


def test_an_unknown_version_gets_426_naming_the_version_we_speak() -> None:
    with pytest.raises(HandshakeError) as refused:
        read_handshake("GET", "1.1", [*_without("Sec-WebSocket-Version"),
                                      ("Sec-WebSocket-Version", "8")])
    assert refused.value.status_code == 426
    assert ("Sec-WebSocket-Version", "13") in refused.value.headers


@pytest.mark.parametrize("headers, why", [
    (_without("Connection"), "no Connection: Upgrade"),
    (_without("Sec-WebSocket-Key"), "no key"),
    ([*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "c2hvcnQ=")], "key not 16 bytes"),
    ([*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "!!not base64!!")], "key garbage"),
    ([*GOOD, ("Sec-WebSocket-Key", KEY)], "two keys"),
    ([*GOOD, ("Content-Length", "5")], "a body"),
    ([*GOOD, ("Transfer-Encoding", "chunked")], "a chunked body"),
])
def test_a_malformed_handshake_gets_400(headers: list[tuple[str, str]], why: str) -> None:
    with pytest.raises(HandshakeError) as refused:
        read_handshake("GET", "1.1", headers)
    assert refused.value.status_code == 400, why


def test_an_http_1_0_or_post_handshake_gets_400() -> None:
    for method, version in (("GET", "1.0"), ("POST", "1.1")):
        with pytest.raises(HandshakeError) as refused:
            read_handshake(method, version, GOOD)
        assert refused.value.status_code == 400


def test_header_names_and_tokens_are_case_insensitive() -> None:
    handshake = read_handshake("GET", "1.1", [(n.upper(), v.upper() if n != "Sec-WebSocket-Key"
                                               else v) for n, v in GOOD])
    assert handshake.key == KEY


def test_accept_offers_only_a_subprotocol_the_client_offered() -> None:
    client = ByteClient(subprotocols=("chat", "superchat"))
    method, version, headers, _ = parse_request_head(client.handshake())
    handshake = read_handshake(method, version, headers)
    assert handshake.subprotocols == ("chat", "superchat")
    with pytest.raises(ValueError):
        handshake.accept("other")
    session = open_pair(ByteClient(subprotocols=("chat",)), subprotocol="chat")
    assert session.is_open


def test_compression_is_off_unless_asked_even_when_the_client_offers_it() -> None:
    client = ByteClient(compression=True)
    method, version, headers, _ = parse_request_head(client.handshake())
    handshake = read_handshake(method, version, headers)
    fields, extensions = handshake.accept()
    assert not extensions and b"Sec-WebSocket-Extensions" not in dict(fields)
    fields, extensions = handshake.accept(compression=True)
    assert dict(fields)[b"Sec-WebSocket-Extensions"].startswith(b"permessage-deflate")


def test_compressed_messages_round_trip_when_compression_is_on() -> None:
    client = ByteClient(compression=True)
    session = open_pair(client, compression=True)
    text = "compress me " * 200
    session.receive_data(client.send(TextMessage(data=text)))
    assert session.next_event() == Message(text)
    session.send(text)
    wire = session.data_to_send()
    assert len(wire) < len(text) // 4
    client.feed(wire)
    assert client.messages() == [text]


# -- messages --------------------------------------------------------------------------


def test_bytes_that_came_with_the_handshake_are_the_first_message() -> None:
    client = ByteClient()
    handshake = client.handshake()
    # The client may send a frame right behind its handshake, in the same packet.
    pipelined = _client_frames_after(client, TextMessage(data="early"))
    session = open_pair(_Replay(client, handshake), after=pipelined)
    assert session.next_event() == Message("early")
    assert session.next_event() is NEED_DATA


def test_text_and_binary_messages_arrive_whole_and_typed() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(client.send(TextMessage(data="héllo")) +
                         client.send(BytesMessage(data=b"\x00\xff")))
    assert session.next_event() == Message("héllo")
    assert session.next_event() == Message(b"\x00\xff")
    assert session.next_event() is NEED_DATA


def test_fragmented_message_is_assembled_across_frames_and_reads() -> None:
    client = ByteClient()
    session = open_pair(client)
    parts = [client.send(TextMessage(data="frag", message_finished=False)),
             client.send(TextMessage(data="ment", message_finished=False)),
             client.send(TextMessage(data="ed", message_finished=True))]
    wire = b"".join(parts)
    for i in range(len(wire)):  # one byte per read: nothing is lost between reads
        session.receive_data(wire[i:i + 1])
        event = session.next_event()
        if i < len(wire) - 1:
            assert event is NEED_DATA
    assert event == Message("fragmented")


def test_a_ping_inside_a_fragmented_message_is_answered_and_the_message_survives() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(client.send(BytesMessage(data=b"ab", message_finished=False))
                         + client.send(Ping(b"are you there"))
                         + client.send(BytesMessage(data=b"cd", message_finished=True)))
    assert session.next_event() == Message(b"abcd")
    client.feed(session.data_to_send())
    assert [e for e in client.events if isinstance(e, Pong)] == [Pong(b"are you there")]


@given(st.lists(st.binary(min_size=0, max_size=50), min_size=1, max_size=6),
       st.integers(min_value=1, max_value=40))
def test_any_fragmentation_and_any_read_split_give_the_same_message(
        fragments: list[bytes], split: int) -> None:
    client = ByteClient()
    session = open_pair(client)
    wire = b"".join(client.send(BytesMessage(data=part, message_finished=i == len(fragments) - 1))
                    for i, part in enumerate(fragments))
    received = []
    for start in range(0, len(wire), split):
        session.receive_data(wire[start:start + split])
        while (event := session.next_event()) is not NEED_DATA:
            received.append(event)
    assert received == [Message(b"".join(fragments))]


def test_an_oversized_message_is_refused_with_1009_before_it_is_all_buffered() -> None:
    client = ByteClient()
    session = open_pair(client, max_message_bytes=100)
    first = client.send(BytesMessage(data=b"x" * 80, message_finished=False))
    second = client.send(BytesMessage(data=b"y" * 80, message_finished=True))
    session.receive_data(first)
    assert session.next_event() is NEED_DATA
    session.receive_data(second[:30])  # the limit is crossed inside the second fragment
    assert session.next_event() is NEED_DATA
    client.feed(session.data_to_send())
    close = client.close_event()
    assert close is not None and close.code == MESSAGE_TOO_BIG
    assert not session.is_open
    with pytest.raises(SessionClosed):
        session.send("after close")
    # The client answers the close; the session is over with the code it sent.
    session.receive_data(second[30:] + client.send(close.response()))
    assert session.next_event() == Closed(MESSAGE_TOO_BIG, "message too big")


def test_a_message_exactly_at_the_limit_is_accepted() -> None:
    client = ByteClient()
    session = open_pair(client, max_message_bytes=100)
    session.receive_data(client.send(BytesMessage(data=b"z" * 100)))
    assert session.next_event() == Message(b"z" * 100)


# -- closing ---------------------------------------------------------------------------


def test_client_close_is_answered_with_the_same_code_and_reported() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(client.send(CloseConnection(code=4001, reason="bye")))
    assert session.next_event() == Closed(4001, "bye")
    client.feed(session.data_to_send())
    assert client.close_event() == CloseConnection(code=4001, reason="bye")
    assert session.next_event() == Closed(4001, "bye")  # stays closed


def test_server_close_waits_for_the_client_close_frame() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.close(1001, "going away")
    events = client.feed(session.data_to_send())
    assert events == [CloseConnection(code=1001, reason="going away")]
    assert session.next_event() is NEED_DATA
    session.receive_data(client.send(events[0].response()))
    assert session.next_event() == Closed(1001, "going away")
    assert session.data_to_send() == b""  # the handshake is complete: nothing more


def test_a_close_code_that_may_not_be_sent_is_refused() -> None:
    session = open_pair(ByteClient())
    for code in (1005, 1006, 1015, 999, 5000):
        with pytest.raises(ValueError):
            session.close(code)


def test_the_client_vanishing_ends_the_session_with_1006() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(b"")
    assert session.next_event() == Closed(ABNORMAL_CLOSURE, "")


def test_a_control_frame_split_in_fragments_is_a_protocol_error_close() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(masked_frame(Opcode.PING, b"x", fin=False))
    closed = session.next_event()
    assert isinstance(closed, Closed) and closed.code == 1002


def test_reserved_bits_without_an_extension_are_a_protocol_error_close() -> None:
    session = open_pair(ByteClient())
    session.receive_data(masked_frame(Opcode.BINARY, b"x", rsv=0b100))
    closed = session.next_event()
    assert isinstance(closed, Closed) and closed.code == 1002


def test_a_masked_frame_rule_violation_is_a_protocol_error_close() -> None:
    client = ByteClient()
    session = open_pair(client)
    unmasked_text = bytes([0x81, 0x02]) + b"hi"  # clients must mask every frame
    session.receive_data(unmasked_text)
    closed = session.next_event()
    assert isinstance(closed, Closed) and closed.code == 1002
    client.feed(session.data_to_send())
    assert client.close_event() is not None and client.close_event().code == 1002


def test_invalid_utf8_in_a_text_message_closes_with_1007() -> None:
    client = ByteClient()
    session = open_pair(client)
    session.receive_data(masked_frame(Opcode.TEXT, b"\xff\xfe"))
    closed = session.next_event()
    assert isinstance(closed, Closed) and closed.code == 1007


# -- keep-alive: time is data ----------------------------------------------------------


def test_silence_sends_a_ping_then_an_answer_keeps_the_session() -> None:
    client = ByteClient()
    session = open_pair(client, ping_interval=30, ping_timeout=7)
    assert session.read_timeout == 30
    session.timed_out()
    assert session.read_timeout == 7
    events = client.feed(session.data_to_send())
    assert [type(e) for e in events] == [Ping]
    session.receive_data(client.send(events[0].response()))
    assert session.next_event() is NEED_DATA
    assert session.read_timeout == 30 and session.is_open


def test_an_unanswered_ping_drops_the_connection_as_1006() -> None:
    session = open_pair(ByteClient(), ping_interval=30, ping_timeout=7)
    session.timed_out()
    session.timed_out()
    assert session.next_event() == Closed(ABNORMAL_CLOSURE, "no reply to a ping")
    assert session.read_timeout == 0


def test_an_unanswered_close_frame_gives_up_after_the_close_timeout() -> None:
    session = open_pair(ByteClient(), close_timeout=3)
    session.close()
    assert session.read_timeout == 3
    session.timed_out()
    assert session.next_event() == Closed(ABNORMAL_CLOSURE, "no reply to the close frame")


def test_sending_something_that_is_not_a_message_is_a_type_error() -> None:
    session = open_pair(ByteClient())
    with pytest.raises(TypeError):
        session.send(42)  # type: ignore[arg-type]


# -- helpers -----------------------------------------------------------------------------


class _Replay(ByteClient):
    """A client whose handshake bytes were already produced."""

    def __init__(self, client: ByteClient, handshake: bytes) -> None:
        self.__dict__.update(client.__dict__)
        self._handshake = handshake

    def handshake(self, host: str = "localhost") -> bytes:
        return self._handshake


def _client_frames_after(client: ByteClient, event: TextMessage) -> bytes:
    """A frame the client sends before it has read the 101 (wsproto will not, so frame it)."""
    from wsproto.frame_protocol import FrameProtocol

    return FrameProtocol(client=True, extensions=[]).send_data(event.data, True)
