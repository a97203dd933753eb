"""Non-blocking socket operations for the threaded transport, plain or TLS.

Each function does as much as the socket takes now and says what is left, so
the caller can park the connection in epoll instead of holding a thread while
a client is slow. The blocking forms, with a timeout, are for handlers that
stream their request body: they hold a thread anyway.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
from typing import Any

RECEIVE_SIZE = 64 * 1024
#: Pieces a file is read in when it cannot be sent with `sendfile` (TLS).
FILE_PIECE = 256 * 1024
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def receive(sock: socket.socket) -> bytes | None:
    """Bytes if any are ready (``b""`` at EOF), None if none yet."""
    try:
        return sock.recv(RECEIVE_SIZE)
    except WOULD_BLOCK:
        return None
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
        return b""


def peek(sock: socket.socket, size: int = 8) -> bytes | None:
    """The first bytes waiting on a plain socket (at most `size`), left unread; ``b""`` at EOF."""
    try:
        return sock.recv(size, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""


def consume(sock: socket.socket, count: int) -> None:
    """Read and drop `count` bytes that `peek` saw waiting (so they are there now)."""
    while count > 0:
        data = sock.recv(count)
        if not data:
            raise ConnectionResetError("connection closed inside a PROXY header")
        count -= len(data)


def local_address(sock: socket.socket) -> tuple[str, int] | None:
    """The (host, port) a TCP connection was made to; None for a unix socket."""
    try:
        name = sock.getsockname()
    except OSError:
        return None
    return (name[0], name[1]) if isinstance(name, tuple) else None


def has_pending(sock: socket.socket) -> bool:
    """TLS may hold decrypted bytes that epoll cannot see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def send_some(sock: socket.socket, data: bytes) -> int:
    """Write what the socket takes of `data` now; how many bytes that was."""
    try:
        return sock.send(data)
    except WOULD_BLOCK:
        return 0


def send(sock: socket.socket, views: list[memoryview], more: bool = False) -> bool:
    """Write from the front of `views`, dropping what went; True once all is written.

    `more` (plain TCP only) says more bytes follow at once: the kernel then
    holds a short piece back (MSG_MORE) to send it with them, as nginx's
    tcp_nopush does for a response head and its file.
    """
    flags = socket.MSG_MORE if more else 0
    while views:
        if not views[0]:
            views.pop(0)
            continue
        try:
            if isinstance(sock, ssl.SSLSocket):
                sent = sock.send(views[0])
            elif len(views) == 1:
                sent = sock.send(views[0], flags)
            else:
                sent = sock.sendmsg(views, (), flags)
        except WOULD_BLOCK:
            return False
        while sent:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0] = views[0][sent:]
                sent = 0
    return True


class FileRegion:
    """The part of a file still to send: with `sendfile` on plain TCP, else by reading."""

    __slots__ = ("file", "fileno", "offset", "remaining")

    def __init__(self, file: Any, offset: int, count: int, sock: socket.socket) -> None:
        self.file = file
        self.offset = offset
        self.remaining = count
        try:
            self.fileno = -1 if isinstance(sock, ssl.SSLSocket) else file.fileno()
        except (AttributeError, OSError, ValueError):
            self.fileno = -1

    def send(self, sock: socket.socket, views: list[memoryview]) -> bool:
        """Write more of the region (read pieces go through `views`); True once all is sent."""
        while self.remaining > 0 or views:
            if views:  # the head (or a piece read, for TLS) before the rest
                if not send(sock, views, more=self.fileno >= 0 and self.remaining > 0):
                    return False
                continue
            if self.fileno < 0:
                self.file.seek(self.offset)
                piece = self.file.read(min(self.remaining, FILE_PIECE))
                sent = len(piece)
                views.append(memoryview(piece))
            else:
                try:
                    sent = os.sendfile(sock.fileno(), self.fileno, self.offset, self.remaining)
                except BlockingIOError:
                    return False
            if not sent:
                raise OSError("file shorter than expected")
            self.offset += sent
            self.remaining -= sent
        return True


def wait(sock: socket.socket, events: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), events)
    return bool(poller.poll(timeout * 1000))


def readable_now(fileno: int) -> bool:
    """Whether bytes (or EOF) are waiting, without reading or blocking."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


def receive_blocking(sock: socket.socket, timeout: float) -> bytes | None:
    """Wait up to `timeout` for bytes; None if none came."""
    while True:
        data = receive(sock)
        if data is not None:
            return data
        if not wait(sock, select.POLLIN, timeout):
            return None


def send_blocking(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write everything; raises TimeoutError if the client stops reading for `timeout`."""
    views = [memoryview(data)]
    while not send(sock, views):
        if not wait(sock, select.POLLOUT, timeout):
            raise TimeoutError("client stopped reading")


def shutdown(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass
