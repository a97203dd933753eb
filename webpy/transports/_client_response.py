"""What the in-memory test client makes of a response's bytes: a `ClientResponse`.

The bytes are parsed by h11's client side, as a real client would parse them,
so a test sees exactly what went on the wire.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

import h11

from ..app import Headers


class ClientResponse:
    """A parsed response: `status`, `reason`, `headers`, `body`, `text`, `json()`."""

    __slots__ = ("body", "headers", "http_version", "interim", "reason", "status")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes,
                 http_version: str, interim: tuple[int, ...] = ()) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.http_version = http_version
        #: Status codes of informational (1xx) responses that came first.
        self.interim = interim

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def __repr__(self) -> str:
        return f"<ClientResponse {self.status} {self.reason}>"


def parse_response(peer: h11.Connection, data: bytes) -> ClientResponse:
    """Parse one response from `data` with the client-side h11 connection `peer`."""
    peer.receive_data(data)
    response: h11.Response | None = None
    body = bytearray()
    while True:
        event = peer.next_event()
        if type(event) is h11.Response:
            response = event
        elif type(event) is h11.Data:
            body += event.data
        elif type(event) is h11.EndOfMessage:
            break
        elif event is h11.NEED_DATA:
            peer.receive_data(b"")  # the server wrote all it will; close-delimited bodies end here
        elif type(event) is h11.ConnectionClosed:
            break
        elif type(event) is h11.InformationalResponse:
            continue
    if response is None:
        raise ConnectionError("the server sent no response")
    headers = Headers([(n.decode("latin-1"), v.decode("latin-1"))
                       for n, v in response.headers.raw_items()])
    return ClientResponse(response.status_code, response.reason.decode("latin-1"), headers,
                          bytes(body), response.http_version.decode("ascii"))
