"""Host a WSGI application (PEP 3333) at a URL prefix of a routes table.

Theory of operation
-------------------
`mount(prefix, app)` returns routes whose one handler class, a `WSGIHandler`
subclass, answers every method under `prefix` by calling `app`. Per request:

1. The environ is built from the `Request`: the decoded path is split at the
   mount point into SCRIPT_NAME and PATH_INFO (both "bytes as latin-1", as
   the PEP says), headers become ``HTTP_*`` (repeated ones joined by
   commas), and ``wsgi.input`` reads the body from the transport's stream
   as the application asks for it: never buffered whole, cut off at the
   body limit, ``b""`` past the end.
2. The application is called and its iterable pulled until it yields the
   first non-empty chunk (or ends). That is when the PEP lets a server send
   the head, so that is when the handler returns: status and headers from
   `start_response`, and as body the rest of the iterable, which the
   transport pulls chunk by chunk as it sends (chunked when no
   Content-Length was given). A one-item list, or a first chunk that
   fills the Content-Length (Flask's usual response), is sent with the
   head in one write and the iterable closed at once; a
   ``wsgi.file_wrapper`` around a real file becomes a `FileBody`, which a
   socket transport sends with ``sendfile``.
3. ``close()`` of the iterable is called exactly once: by the body's own
   `close`, which the driver calls after sending, after a failure, and when
   the client goes away mid-response; or here, if no body is returned.

`start_response` keeps the PEP's state rules in `_StartResponse.state`: it
may be called again only with ``exc_info``, which re-raises once the head
has gone out. `write()` data is kept until the handler returns (PEP 3333
allows buffering it "while the application proceeds onward"), then sent
before the iterable's chunks; applications that stream should return an
iterable, as the PEP recommends.

The application, each `next` on its iterable and its ``close`` all run in
one `contextvars.Context`: on the trio transport each pull may run on a
different worker thread, and frameworks keep request state (Flask's
contexts) in context variables.

Like every plain handler the application runs on a pool thread of the
threaded server and on a worker thread of the trio transport. Requests are
not ordered per resource (the application orders its own) unless
``ordered=True``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, ClassVar
from urllib.parse import unquote_to_bytes

from .errors import HTTPError
from .handler import HTTPHandler
from .headers import Headers
from .request import BodyStream
from .response import FileBody, StreamBody

__all__ = ["FileWrapper", "InputError", "WSGIHandler", "mount"]

logger = logging.getLogger("webpy")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: The methods a mounted application answers, besides those passed to `mount`.
METHODS = ("get", "head", "post", "put", "delete", "patch", "options", "trace")
#: Response headers a WSGI application must not set (PEP 3333, "Other HTTP Features").
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade"})
_STATUS = re.compile(r"([1-9][0-9]{2}) ([^\r\n]*)")
#: Request headers the environ carries without the ``HTTP_`` prefix.
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_READ_LINE_PIECE = 8 * 1024


def mount(prefix: str, app: WSGIApplication, *, ordered: bool = False,
          max_body_bytes: int | None = None, methods: Iterable[str] = (),
          multiprocess: bool = False) -> dict[str, type[WSGIHandler]]:
    """Routes that serve the WSGI application `app` at `prefix` and below it.

    ``routes.update(wsgi.mount("/legacy", app))`` sends ``/legacy`` and
    ``/legacy/...`` to `app` with SCRIPT_NAME ``/legacy``; a prefix of ``"/"``
    (or ``""``) mounts it at the root. `methods` adds methods beyond
    `METHODS` (e.g. ``["propfind"]``). `ordered` applies webpy's
    per-resource ordering; `max_body_bytes` is the body limit (None: the
    server's); `multiprocess` is what ``wsgi.multiprocess`` says (True when
    serving with several processes).
    """
    script_name = prefix.rstrip("/")
    if script_name and not script_name.startswith("/"):
        raise ValueError(f"a mount prefix starts with '/': {prefix!r}")
    namespace: dict[str, Any] = {
        "application": staticmethod(app),
        "script_name": script_name,
        "ordered": ordered,
        "max_body_bytes": max_body_bytes,
        "multiprocess": multiprocess,
    }
    for method in methods:
        name = method.lower()
        if not name.isalpha():
            raise ValueError(f"not a method name: {method!r}")
        namespace["do_" + name] = WSGIHandler.do_get
    name = getattr(app, "__name__", type(app).__name__)
    handler = type(f"WSGI_{name}", (WSGIHandler,), namespace)
    return {re.escape(script_name) + "(?:/.*)?": handler}


class InputError(OSError):
    """Raised by ``wsgi.input`` when the request body cannot be read.

    The body was too large, too slow or malformed (`error` says which, as
    the status to answer). Whatever the application answers instead, the
    client gets that status: the request was at fault, not the application.
    """

    def __init__(self, error: HTTPError) -> None:
        super().__init__(str(error))
        self.error = error


class WSGIHandler(HTTPHandler):
    """Answers every request by calling `application`; see the module docstring.

    Made by `mount`; subclass it directly to set `application` and
    `script_name` yourself.
    """

    stream_request_body = True
    ordered = False
    #: The WSGI application (a staticmethod on subclasses).
    application: ClassVar[WSGIApplication]
    #: The mount point: the path prefix that becomes SCRIPT_NAME ("" for the root).
    script_name: ClassVar[str] = ""
    #: What ``wsgi.multiprocess`` says.
    multiprocess: ClassVar[bool] = False

    def do_get(self) -> tuple[int, str, Any]:
        environ = self.environ()
        body_input: WSGIInput = environ["wsgi.input"]
        starter = _StartResponse()
        context = contextvars.copy_context()
        result: Iterable[bytes] | None = None
        try:
            result = context.run(type(self).application, environ, starter.start_response)
            output = _Output(result, starter, context)
            first = output.first()
            _raise_input_error(body_input)  # the application carried on past a bad body
            status, reason = starter.status_line()
            headers, length = starter.response_headers()
        except BaseException:
            if result is not None:
                _close(result, context)
            _raise_input_error(body_input)
            raise
        self.response.headers = headers
        starter.state = _SENT
        return status, reason, output.body(first, length)

    do_head = do_post = do_put = do_delete = do_patch = do_options = do_trace = do_get

    def environ(self) -> dict[str, Any]:
        """The PEP 3333 environ for this request."""
        request = self.request
        script_name = self.script_name.encode("utf-8")
        path = unquote_to_bytes(request.raw_path)
        if not path.startswith(script_name):  # routed by a pattern other than mount's
            script_name = b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": script_name.decode("latin-1"),
            "PATH_INFO": path[len(script_name):].decode("latin-1"),
            "QUERY_STRING": request.query_string,
            "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": WSGIInput(request.stream),
            "wsgi.errors": _ErrorStream(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }
        joined: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            if "_" in key:
                # Dropped: "X_Real_IP" would otherwise pass for "X-Real-IP" in the environ.
                continue
            variable = _UNPREFIXED.get(key) or "HTTP_" + key.upper().replace("-", "_")
            if variable in joined:
                separator = "; " if key == "cookie" else ","
                joined[variable] = joined[variable] + separator + value
            else:
                joined[variable] = value
        environ.update(joined)
        host = joined.get("HTTP_HOST", "")
        name, port = host, ""
        if host.rfind(":") > host.rfind("]"):  # a port, not a colon of an IPv6 address
            name, _, port = host.rpartition(":")
        server = request.server
        if not name and server is not None:  # no Host (HTTP/1.0): the address connected to
            name, port = server[0], str(server[1])
        environ["SERVER_NAME"] = name or "localhost"
        environ["SERVER_PORT"] = port or _DEFAULT_PORTS.get(request.scheme, "80")
        if request.client is not None:
            environ["REMOTE_ADDR"] = request.client[0]
            environ["REMOTE_PORT"] = str(request.client[1])
        return environ


class WSGIInput:
    """``wsgi.input``: the request body, read from the transport as the application asks.

    Never holds more than one read's worth. Reads past the end return
    ``b""``. A body the server must refuse (too large, too slow,
    malformed) raises `InputError`, and is remembered in `error` so the
    handler answers it whatever the application does.
    """

    __slots__ = ("_buffer", "_done", "_stream", "error")

    def __init__(self, stream: BodyStream | None) -> None:
        self._stream = stream
        self._buffer = b""
        self._done = stream is None
        self.error: HTTPError | None = None

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            pieces = [self._buffer]
            self._buffer = b""
            while piece := self._pull(-1):
                pieces.append(piece)
            return b"".join(pieces)
        if not self._buffer:
            return self._pull(size) if size else b""
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        while True:
            end = self._buffer.find(b"\n") + 1
            if end or (0 <= limit <= len(self._buffer)):
                cut = end if end and (limit < 0 or end <= limit) else limit
                line, self._buffer = self._buffer[:cut], self._buffer[cut:]
                return line
            piece = self._pull(_READ_LINE_PIECE)
            if not piece:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += piece

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _pull(self, size: int) -> bytes:
        if self._done:
            return b""
        assert self._stream is not None
        try:
            piece: bytes = self._stream.read(size)
        except HTTPError as error:
            self._done = True
            self.error = error
            raise InputError(error) from None
        if not piece:
            self._done = True
        return piece


class FileWrapper:
    """``wsgi.file_wrapper``: a file sent as a response body, with sendfile where possible.

    Iterating it reads `block_size` pieces; returned as is from the
    application, the handler hands a regular file to the transport whole.
    """

    def __init__(self, file: IO[bytes], block_size: int = 64 * 1024) -> None:
        self.file = file
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.file.read(self.block_size):
            yield piece

    def close(self) -> None:
        close = getattr(self.file, "close", None)
        if close is not None:
            close()


# -- start_response ------------------------------------------------------------------

#: `_StartResponse.state`: not called yet, called (head not sent), head sent.
_WAITING, _STARTED, _SENT = "waiting", "started", "sent"


class _StartResponse:
    """The ``start_response`` callable and what it was given."""

    __slots__ = ("_headers", "_status", "pending", "state")

    def __init__(self) -> None:
        self.state = _WAITING
        self._status = ""
        self._headers: list[tuple[str, str]] = []
        #: Data passed to ``write()``, not yet handed to the transport.
        self.pending: list[bytes] = []

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: ExcInfo | None = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.state == _SENT:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.state != _WAITING:
            raise RuntimeError("start_response called a second time without exc_info")
        if not isinstance(status, str):
            raise TypeError(f"status must be a str, not {type(status).__name__}")
        if not isinstance(headers, list) or not all(
                isinstance(pair, tuple) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str) for pair in headers):
            raise TypeError("headers must be a list of (str, str) tuples")
        self._status, self._headers = status, headers
        if self.state == _WAITING:
            self.state = _STARTED
        self.pending = []
        return self.write

    def write(self, data: bytes) -> None:
        if self.state == _WAITING:
            raise RuntimeError("write() called before start_response")
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if data:
            self.pending.append(data)

    def status_line(self) -> tuple[int, str]:
        match = _STATUS.fullmatch(self._status)
        if match is None:
            raise ValueError(f"invalid WSGI status {self._status!r}")
        return int(match[1]), match[2]

    def response_headers(self) -> tuple[Headers, int | None]:
        """The headers to send, without hop-by-hop ones; the Content-Length, if given."""
        headers = Headers()
        length = None
        for name, value in self._headers:
            key = name.lower()
            if key in HOP_BY_HOP:
                logger.debug("dropped hop-by-hop header %s from a WSGI application", name)
            elif key == "content-length":
                if not value.strip().isdigit():
                    raise ValueError(f"invalid Content-Length {value!r}")
                length = int(value)
            else:
                headers.add(name, value)
        return headers, length


# -- the response body -----------------------------------------------------------------


class _Output:
    """The application's iterable, pulled in its context, after any ``write()`` data."""

    __slots__ = ("_context", "_iterator", "_result", "_starter", "_closed")

    def __init__(self, result: Iterable[bytes], starter: _StartResponse,
                 context: contextvars.Context) -> None:
        self._result = result
        self._starter = starter
        self._context = context
        self._iterator: Iterator[bytes] | None = None
        self._closed = False

    def first(self) -> bytes:
        """Pull until the first non-empty chunk (b"" if none); start_response must be done."""
        chunk: bytes | None = b""
        if type(self._result) is not FileWrapper:
            self._iterator = self._context.run(iter, self._result)
            while (chunk := self._next()) is not None and not chunk:
                pass
        if self._starter.state == _WAITING:
            raise RuntimeError("the WSGI application did not call start_response")
        return chunk or b""

    def body(self, first: bytes, length: int | None) -> bytes | FileBody | StreamBody:
        result = self._result
        if self._iterator is None:  # a FileWrapper, untouched
            file_body = _file_body(result, length)  # type: ignore[arg-type]
            if file_body is not None and not self._starter.pending:
                return file_body
            self._iterator = self._context.run(iter, result)
        pending = self._starter.pending
        whole = length is not None and sum(map(len, pending)) + len(first) >= length
        if whole or (isinstance(result, list | tuple) and len(result) <= 1):
            # All there is (or all Content-Length allows): sent with the head in one write,
            # and the iterable closed now, in this thread.
            data = b"".join([*pending, first])
            self._starter.pending = []
            self.close()
            return data[:length] if length is not None else data
        if first:
            self._starter.pending.append(first)
        return StreamBody(self, length)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        pending = self._starter.pending
        if pending:
            return pending.pop(0)
        chunk = self._next()
        if chunk is None:
            raise StopIteration
        if pending:  # write() called during iteration: its data goes first
            pending.append(chunk)
            return pending.pop(0)
        return chunk

    def _next(self) -> bytes | None:
        assert self._iterator is not None
        chunk = self._context.run(next, self._iterator, None)
        if chunk is not None and not isinstance(chunk, bytes):
            raise TypeError(f"a WSGI application yielded {type(chunk).__name__}, not bytes")
        return chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close(self._result, self._context)


def _close(result: Iterable[bytes], context: contextvars.Context) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        context.run(close)


def _file_body(wrapper: FileWrapper, length: int | None) -> FileBody | None:
    """The wrapped file as a `FileBody`, if it is a regular file on disk."""
    file = wrapper.file
    try:
        status = os.fstat(file.fileno())
        offset = file.tell()
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    size = max(status.st_size - offset, 0)
    return FileBody(file, offset, size if length is None else min(size, length))


def _raise_input_error(body_input: WSGIInput) -> None:
    if body_input.error is not None:
        raise body_input.error


class _ErrorStream:
    """``wsgi.errors``: text written here goes to the ``webpy.wsgi`` logger, line by line."""

    __slots__ = ("_partial",)

    _logger = logging.getLogger("webpy.wsgi")

    def __init__(self) -> None:
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            self._logger.error("%s", self._partial)
            self._partial = ""

