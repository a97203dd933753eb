"""The event-stream format and the `EventStream` channel, without a server."""

from __future__ import annotations

import threading

import pytest

from webpy.app.sse import HEARTBEAT, Event, EventStream, StreamClosed


def test_event_fields_are_written_in_the_event_stream_format() -> None:
    event = Event("hello", event="greeting", id="7", retry=3000)
    assert event.encode() == b"event: greeting\nid: 7\nretry: 3000\ndata: hello\n\n"


def test_multiline_data_becomes_one_data_field_per_line() -> None:
    assert Event("one\ntwo\r\nthree\rfour").encode() == (
        b"data: one\ndata: two\ndata: three\ndata: four\n\n")


def test_empty_data_is_still_an_event() -> None:
    assert Event().encode() == b"data: \n\n"


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_a_newline_in_event_or_id_is_refused_since_it_would_inject_a_field(
        field: str, bad: str) -> None:
    with pytest.raises(ValueError):
        Event("x", **{field: bad})


def test_stream_sends_events_in_order_and_ends_after_them() -> None:
    stream = EventStream(retry=1500)
    stream.send("one", id="1")
    stream.send("two", event="note")
    stream.end()
    assert list(stream) == [b"retry: 1500\n\n", b"id: 1\ndata: one\n\n",
                            b"event: note\ndata: two\n\n"]


def test_a_silent_stream_sends_heartbeat_comments() -> None:
    stream = EventStream(heartbeat=0.01)
    chunks = iter(stream)
    assert next(chunks).startswith(b":")  # the opening comment
    assert next(chunks) == HEARTBEAT
    assert next(chunks) == HEARTBEAT
    stream.close()


def test_events_sent_from_another_thread_reach_the_stream() -> None:
    stream = EventStream(heartbeat=30)
    chunks = iter(stream)
    next(chunks)
    sender = threading.Thread(target=stream.send, args=("from a thread",))
    sender.start()
    assert next(chunks) == b"data: from a thread\n\n"
    sender.join()
    stream.close()


def test_closing_the_body_runs_callbacks_and_later_sends_raise() -> None:
    stream = EventStream()
    closed = []
    stream.on_close(lambda: closed.append("first"))
    next(iter(stream))
    stream.close()  # what the transport does when the client goes away
    assert closed == ["first"]
    assert not stream.open
    with pytest.raises(StreamClosed):
        stream.send("too late")
    stream.on_close(lambda: closed.append("late"))  # registered after the end: runs at once
    assert closed == ["first", "late"]


def test_a_stream_closed_before_it_was_iterated_still_runs_callbacks() -> None:
    stream = EventStream()
    closed = threading.Event()
    stream.on_close(closed.set)
    stream.close()
    assert closed.is_set()
    assert list(stream) == []


def test_a_client_that_does_not_keep_up_ends_the_stream_instead_of_growing_it() -> None:
    stream = EventStream(max_pending=2)
    closed = threading.Event()
    stream.on_close(closed.set)
    stream.send("1")
    stream.send("2")
    with pytest.raises(StreamClosed):
        stream.send("3")
    assert closed.is_set() and not stream.open


def test_ending_twice_is_harmless_and_sends_nothing_more() -> None:
    stream = EventStream()
    stream.send("only")
    stream.end()
    stream.end()
    assert list(stream)[1:] == [b"data: only\n\n"]
