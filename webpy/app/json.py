"""JSON in and out for handlers, through the `decode` and `encode` hooks.

    from webpy.app.json import JSONHandler

    class Items(JSONHandler):
        def do_post(self):
            item = self.request.body          # parsed: a dict, list, str, number...
            return 201, {"stored": item}      # sent as application/json

A request body is parsed only when its Content-Type says JSON
(``application/json`` or any ``application/...+json``), so a handler can
still take other uploads as bytes; a body that is not valid JSON is refused
with 400 before the handler runs. A dict or list returned as the body is
serialised as UTF-8 JSON; anything else is sent as a plain handler's would be.
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

    def decode(self, body: bytes) -> Any:
        """Parse `body` if the request says it is JSON; raise HTTPError(400) if it is not valid.

        An empty JSON body becomes None, the way an absent value reads.
        """
        if not is_json_type(self.request.headers.get("Content-Type")):
            return super().decode(body)  # another base may know this type
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise HTTPError(400, f"request body is not valid JSON: {_first_line(error)}") from None

    def encode(self, body: Any) -> Any:
        """Serialise a dict or list body as JSON, typed application/json unless already typed."""
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


def _first_line(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).splitlines()[0][:200]
