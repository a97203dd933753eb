"""JSON in and out for handlers, through the `decode` and `encode` hooks.

    from webpy.app.json import JSONHandler

    class Items(JSONHandler):
        def do_post(self):
            item = self.request.body          # parsed: a dict, list, str, number...
            return 201, {"stored": item}      # sent as application/json

Request bodies: a body whose Content-Type says JSON (``application/json``
or any ``application/...+json``) is parsed into `self.request.body`; one
that is not valid JSON is refused with 400 before the handler runs. A body
sent with no Content-Type at all is parsed as JSON too (what a bare
``http.client`` or a hand-written request sends, as FastAPI does). A body of
any other type (``curl -d`` sends form encoding; ``text/plain``) is refused
with 415, naming the type expected, before it is read, unless another base
class in the handler's hierarchy decodes bodies (``class X(JSONHandler,
FormHandler)``), which then gets it.

Responses: every handler sends a dict or list body as JSON (see
`webpy.app.response`); a `JSONHandler` does it through `dumps`, which a
subclass may override (indented, sorted, other types).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import HTTPError
from .handler import HTTPHandler

#: Content-Type of the JSON bodies this module sends.
JSON_TYPE = "application/json"


class JSONHandler(HTTPHandler):
    """A handler that gets JSON request bodies parsed and sends dicts and lists as JSON.

    Override `dumps` to serialise differently (indented, sorted, other types).
    Bodies it does not handle go to the next base's `decode` / `encode`, so it
    combines with other handler bases by inheritance.
    """

    def prepare(self) -> None:
        """Refuse a body that is not JSON (415) before it is read, if nothing else decodes it."""
        super().prepare()
        headers = self.request.headers
        if (type(self).decode is JSONHandler.decode and not _others_decode(type(self))
                and not _acceptable(headers.get("Content-Type"))
                and ("Transfer-Encoding" in headers
                     or headers.get("Content-Length", "0") != "0")):
            raise _not_json()

    def decode(self, body: bytes) -> Any:
        """Parse `body` if the request says it is JSON; raise HTTPError(400) if it is not valid.

        An empty JSON body becomes None, the way an absent value reads. A body
        of another type goes to the next base's `decode` if one defines it,
        and is refused with 415 otherwise.
        """
        if not _acceptable(self.request.headers.get("Content-Type")):
            if _others_decode(type(self)):
                return super().decode(body)  # another base knows this type
            if body:
                raise _not_json()
            return super().decode(body)
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise HTTPError(400, f"request body is not valid JSON: {_first_line(error)}") from None

    def encode(self, body: Any) -> Any:
        """Serialise a dict or list body with `dumps`, typed application/json unless typed."""
        if not isinstance(body, dict | list):
            return super().encode(body)
        self.response.headers.setdefault("Content-Type", JSON_TYPE)
        return self.dumps(body)

    def dumps(self, body: Any) -> bytes:
        """The JSON bytes for `body` (UTF-8, non-ASCII characters kept as they are)."""
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


def is_json_type(content_type: str | None) -> bool:
    """Whether a Content-Type value names JSON: application/json or application/<anything>+json."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _acceptable(content_type: str | None) -> bool:
    """JSON, or no Content-Type at all (parsed as JSON, as documented above)."""
    return content_type is None or is_json_type(content_type)


def _others_decode(handler_class: type[HTTPHandler]) -> bool:
    """Whether a base after JSONHandler in `handler_class`'s MRO defines its own `decode`."""
    known = _OTHERS_DECODE.get(handler_class)
    if known is None:
        mro = handler_class.__mro__
        after = [base for base in mro[mro.index(JSONHandler) + 1:] if "decode" in vars(base)]
        known = _OTHERS_DECODE[handler_class] = bool(after) and after[0] is not HTTPHandler
    return known


#: `_others_decode` per handler class, worked out once (the answer never changes).
_OTHERS_DECODE: dict[type[HTTPHandler], bool] = {}


def _not_json() -> HTTPError:
    # A fixed text: the type the client sent is not repeated back to it.
    return HTTPError(415, f"the request body must be JSON (Content-Type: {JSON_TYPE})",
                     headers={"Accept": JSON_TYPE})


def _first_line(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).splitlines()[0][:200]
