"""Sans-IO HTTP/1.1 for servers, over h11: bytes in, events out; responses in, bytes out."""

from .connection import CONTINUE_RESPONSE, REASON_PHRASES, ServerConnection, State
from .dates import http_date
from .errors import HTTPProblem, InvalidResponse, ProtocolError
from .events import (
    NEED_DATA,
    PAUSED,
    BodyChunk,
    ConnectionClosed,
    Event,
    RequestEnd,
    RequestHead,
    Wait,
)
from .limits import Limits

__all__ = [
    "CONTINUE_RESPONSE",
    "NEED_DATA",
    "PAUSED",
    "REASON_PHRASES",
    "BodyChunk",
    "ConnectionClosed",
    "Event",
    "HTTPProblem",
    "InvalidResponse",
    "Limits",
    "ProtocolError",
    "RequestEnd",
    "RequestHead",
    "ServerConnection",
    "State",
    "Wait",
    "http_date",
]
