"""Keep-alive clients that count every request they send and every response they get.

A client sends request after request on one connection. A connection the
server closes after a response (``Connection: close``) is replaced by a new
one. A request that gets no response at all (the server closed the idle
connection as it arrived) is sent again on a new connection, as RFC 9112
section 9.3.1 allows for a GET: the test then checks the server never handled
it, so it was not lost but never received. Every request has its own id.

With `fresh_connections`, each request goes on a new connection, and a
request that gets no response is a failure, never sent again: a new
connection the server accepted (or the kernel queued for it) must be served.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from harness import CLIENT_TIMEOUT, ResponseReader, SocketRawConnection

CLIENTS = 8
#: Each client stops by itself after this many requests (a bound, not a goal).
MOST_REQUESTS = 20_000
#: Sending one request again this many times without an answer is a failure.
MOST_RETRIES = 5


@dataclass
class Tally:
    #: id -> pid of the worker that answered it.
    answered: dict[str, int] = field(default_factory=dict)
    #: ids sent again on a new connection after getting nothing.
    resent: list[str] = field(default_factory=list)
    #: ids never answered (the server stopped, or a failure).
    unanswered: list[str] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)


class Load:
    """`CLIENTS` threads, each sending requests until `finish()` (or `MOST_REQUESTS`)."""

    def __init__(self, address: tuple[str, int], clients: int = CLIENTS, *,
                 fresh_connections: bool = False) -> None:
        self.address = address
        self.fresh_connections = fresh_connections
        self.tally = Tally()
        self._lock = threading.Lock()
        self._finish = threading.Event()
        self._counts = [0] * clients
        self._progress = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]
        for thread in self._threads:
            thread.start()

    def wait_for_answers(self, each: int, excluding: frozenset[int] = frozenset()) -> None:
        """Until every client has `each` more answers, from workers other than `excluding`."""
        with self._progress:
            self._excluded = excluding
            start = list(self._counts)
            done = self._progress.wait_for(
                lambda: all(now - then >= each
                            for now, then in zip(self._counts, start, strict=True))
                or bool(self.tally.failures) or not any(t.is_alive() for t in self._threads),
                CLIENT_TIMEOUT)
        assert done, "clients made no progress"

    _excluded: frozenset[int] = frozenset()

    def finish(self) -> Tally:
        self._finish.set()
        for thread in self._threads:
            thread.join(3 * CLIENT_TIMEOUT)
        assert not any(thread.is_alive() for thread in self._threads), "a client hung"
        return self.tally

    def _client(self, number: int) -> None:
        connection: SocketRawConnection | None = None
        try:
            for sequence in range(MOST_REQUESTS):
                if self._finish.is_set():
                    return
                tag = f"{number}-{sequence}"
                request = f"GET /?id={tag} HTTP/1.1\r\nHost: test\r\n\r\n".encode()
                for _ in range(MOST_RETRIES):
                    try:
                        if connection is None:
                            connection = SocketRawConnection(self.address)
                            reader = ResponseReader(connection)
                        connection.send(request)
                        response = reader.read()
                    except ConnectionRefusedError:  # the server is gone (a stop): done
                        with self._lock:
                            self.tally.unanswered.append(tag)
                        return
                    except OSError as error:
                        if self.fresh_connections:
                            raise AssertionError(f"request {tag} on a new connection: "
                                                 f"{error!r}") from error
                        response = None
                    if response is not None:
                        break
                    if self.fresh_connections:
                        raise AssertionError(f"request {tag}: connection closed unanswered")
                    if connection is not None:  # None: the connection failed as it opened
                        connection.close()
                        connection = None
                    with self._lock:
                        self.tally.resent.append(tag)
                else:
                    with self._lock:
                        self.tally.unanswered.append(tag)
                    return
                _, answered_tag, pid = response.body.decode().split()
                assert response.status == 200 and answered_tag == tag, response.body
                with self._progress:
                    self.tally.answered[tag] = int(pid)
                    if int(pid) not in self._excluded:
                        self._counts[number] += 1
                    self._progress.notify_all()
                if self.fresh_connections or response.headers.get("connection") == "close":
                    connection.close()
                    connection = None
        except BaseException as error:
            with self._progress:
                self.tally.failures.append(error)
                self._progress.notify_all()
        finally:
            if connection is not None:
                connection.close()
