"""HTML form bodies for handlers: urlencoded and multipart, through the `decode` hook.

    from webpy.app.forms import FormHandler

    class Upload(FormHandler):
        def do_post(self):
            form = self.request.body                 # a Form
            title = form["title"]                    # first value of a field, a str
            tags = form.get_all("tag")               # every value, in order
            photo = form.files["photo"]              # an UploadedFile
            return 201, f"{title}: {photo.filename}, {len(photo.data)} bytes"

A `FormHandler` takes ``application/x-www-form-urlencoded`` bodies (parsed
with `urllib.parse.parse_qsl`) and ``multipart/form-data`` bodies (parsed by
the standard library's `email` package) into a `Form` in
`self.request.body`. A request without a body gets an empty `Form`.

Refusals, all before the handler runs:

- 415 when a body comes with another Content-Type, decided in `prepare`,
  before the body is read (the response's ``Accept`` field lists the form types);
- 400 for a malformed body: bytes that are not valid UTF-8 or percent-escapes
  that do not decode to it, a multipart body whose boundaries or part headers
  are broken, a part that is not ``form-data`` with a name, nested multipart;
- 413 for a body over the handler's `max_body_bytes` (or the server's limit),
  checked before it is read when the Content-Length says so, and for more
  than `max_form_fields` fields.

Multipart bodies, files included, are read whole into memory (up to the
body limit) and parsed there, which takes a few times the body's size and
time growing with its number of lines. Large uploads belong in a handler
with ``stream_request_body = True`` that writes them out as they arrive.

A field the handler reads that the client did not send (``form["title"]``,
``form.files["photo"]``) is the client's mistake, as in Flask: `MissingField`,
an `HTTPError` 400 naming the field that is also a `KeyError`, so code that
catches KeyError still works.

Field names, values and file names are UTF-8 (a text part may name another
charset). File names are given as sent: a browser escapes ``"`` as ``%22``,
and a name may contain path separators, so never use one as a path as it is.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.errors import UndecodableBytesDefect
from email.message import EmailMessage, Message
from email.utils import collapse_rfc2231_value
from typing import ClassVar, cast
from urllib.parse import parse_qsl

from .errors import HTTPError
from .handler import HTTPHandler
from .headers import MultiDict

#: Content-Type of urlencoded form bodies.
URLENCODED_TYPE = "application/x-www-form-urlencoded"
#: Content-Type of multipart form bodies.
MULTIPART_TYPE = "multipart/form-data"
#: The media types a `FormHandler` accepts, as a 415 response's Accept field lists them.
FORM_TYPES = (URLENCODED_TYPE, MULTIPART_TYPE)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file sent in a multipart form: its name as sent, its media type and its bytes."""

    filename: str
    #: The part's media type, lowercased; ``text/plain`` when the part named none (RFC 7578).
    content_type: str
    data: bytes = field(repr=False)


class MissingField(HTTPError, KeyError):
    """A form field the handler asked for and the request lacks: 400 naming the field.

    The name comes from the handler's code, never from the request, so the
    error page echoes nothing the client sent.
    """

    def __init__(self, name: str, kind: str = "field") -> None:
        super().__init__(400, f"the form has no {kind} {name!r}")
        self.name = name

    def __str__(self) -> str:  # KeyError's own would show the message quoted
        return HTTPError.__str__(self)


class Files:
    """The files of a form by field name: `files[name]` is the first, `get_all(name)` every one."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, UploadedFile]] = ()) -> None:
        self._items = list(items)

    def __getitem__(self, name: str) -> UploadedFile:
        for item_name, file in self._items:
            if item_name == name:
                return file
        raise MissingField(name, "file")

    def get(self, name: str) -> UploadedFile | None:
        try:
            return self[name]
        except KeyError:
            return None

    def get_all(self, name: str) -> list[UploadedFile]:
        return [file for item_name, file in self._items if item_name == name]

    def __contains__(self, name: object) -> bool:
        return any(item_name == name for item_name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        """Each distinct field name once, in order."""
        return iter(dict.fromkeys(name for name, _ in self._items))

    def __len__(self) -> int:
        return len({name for name, _ in self._items})

    def items(self) -> list[tuple[str, UploadedFile]]:
        """Every (field name, file) pair, repeated names included, in order."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Files({self._items!r})"


class Form(MultiDict):
    """A parsed form: the text fields as a `MultiDict` (name -> str) plus `files`.

    A multipart part with a file name (even an empty one, as a browser sends
    for a file input left empty) is a file; any other part is a text field.
    """

    __slots__ = ("files",)

    def __init__(self, fields: Iterable[tuple[str, str]] = (),
                 files: Iterable[tuple[str, UploadedFile]] = ()) -> None:
        super().__init__(fields)
        self.files = Files(files)

    def __getitem__(self, name: str) -> str:
        """The field's first value; `MissingField` (400, a KeyError) if the form has none."""
        try:
            return super().__getitem__(name)
        except KeyError:
            raise MissingField(name) from None

    def __repr__(self) -> str:
        return f"Form({self.items()!r}, files={self.files.items()!r})"


class FormHandler(HTTPHandler):
    """A handler whose request body arrives as a `Form` in `self.request.body`.

    It refuses bodies of other types with 415 before reading them. Combine
    it with `JSONHandler` to answer in JSON (``class X(FormHandler,
    JSONHandler)``: forms in, JSON out; FormHandler first, so its `decode`
    is the one used) or with an authentication handler, in either order: its
    `prepare` lets the other bases vet the request first, so credentials are
    checked before the media type.
    """

    #: Most fields and files a form may have; more is refused with 413 before parsing.
    max_form_fields: ClassVar[int] = 1000

    def prepare(self) -> None:
        """Refuse a body that is not a form (415) before it is read."""
        super().prepare()
        headers = self.request.headers
        has_body = ("Transfer-Encoding" in headers
                    or headers.get("Content-Length", "0") != "0")
        if has_body:
            _form_type(headers.get("Content-Type"))

    def decode(self, body: bytes) -> Form:
        """Parse `body` as the form its Content-Type names; HTTPError(400/413/415) if it is not."""
        if not body:
            return Form()
        value = self.request.headers.get("Content-Type")
        content_type = _form_type(value)
        if content_type.get_content_type() == URLENCODED_TYPE:
            return _parse_urlencoded(body, self.max_form_fields)
        return _parse_multipart(value or "", content_type, body, self.max_form_fields)


def _form_type(value: str | None) -> EmailMessage:
    """The Content-Type field `value`, parsed; HTTPError(415) unless it names a form type."""
    parsed = EmailMessage(policy=email.policy.HTTP)
    if value is not None:
        parsed["Content-Type"] = value
    if value is None or parsed.get_content_type() not in FORM_TYPES:
        raise HTTPError(415, f"a form body must be {' or '.join(FORM_TYPES)}",
                        headers={"Accept": ", ".join(FORM_TYPES)})
    return parsed


def _parse_urlencoded(body: bytes, max_fields: int) -> Form:
    try:
        text = body.decode("ascii")  # percent-escapes carry anything beyond ASCII
        fields = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                           max_num_fields=max_fields)
    except UnicodeDecodeError:
        raise HTTPError(400, "form body is not ASCII, or its escapes are not UTF-8") from None
    except ValueError:  # more fields than max_num_fields
        raise _too_many(max_fields) from None
    return Form(fields)


def _parse_multipart(value: str, content_type: Message, body: bytes, max_fields: int) -> Form:
    """Parse a multipart body with the `email` package; `value` is the Content-Type as sent."""
    boundary = content_type.get_boundary()
    if not boundary:
        raise HTTPError(400, "multipart/form-data without a boundary parameter")
    delimiter = b"--" + boundary.encode("latin-1")
    if body.count(delimiter) - 1 > max_fields:  # each part follows a delimiter; one more ends them
        raise _too_many(max_fields)
    if body.rstrip() == delimiter + b"--":  # what a browser sends for a form with no fields
        return Form()
    parser = email.parser.BytesFeedParser(policy=email.policy.HTTP)
    parser.feed(b"Content-Type: " + value.encode("latin-1") + b"\r\n\r\n")
    parser.feed(body)
    message = parser.close()
    parts = message.get_payload()
    if message.defects or not isinstance(parts, list):  # a list of parts when multipart
        raise HTTPError(400, "malformed multipart body")
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, UploadedFile]] = []
    for part in cast("list[Message]", parts):
        name, filename, data = _read_part(part)
        if filename is None:
            fields.append((name, _text(part, data)))
        else:
            files.append((name, UploadedFile(filename, part.get_content_type(), data)))
    return Form(fields, files)


def _read_part(part: Message) -> tuple[str, str | None, bytes]:
    """A part's field name, file name (None for a text field) and content; HTTPError(400)."""
    raw_disposition = ""
    for header_name, raw_value in part.raw_items():
        try:  # the parser keeps undecodable header bytes as surrogates
            text = str(raw_value).encode("ascii", "surrogateescape").decode("utf-8")
        except UnicodeError:
            raise HTTPError(400, "multipart part header is not UTF-8") from None
        if header_name.lower() == "content-disposition":
            raw_disposition = text
    if part.is_multipart():
        raise HTTPError(400, "nested multipart parts are not form fields (RFC 7578)")
    dispositions = part.get_all("Content-Disposition") or []
    if len(dispositions) != 1 or part.get_content_disposition() != "form-data":
        raise HTTPError(400, "multipart part without one Content-Disposition: form-data")
    # UTF-8 in a quoted file name, as browsers send it, is a defect only to email.
    if any(not isinstance(defect, UndecodableBytesDefect)
           for defect in getattr(dispositions[0], "defects", ())):
        raise HTTPError(400, "malformed Content-Disposition in a multipart part")
    name = _disposition_param(part, "name", raw_disposition)
    if name is None:
        raise HTTPError(400, "multipart part without a name")
    data = part.get_payload(decode=True)
    if part.defects or not isinstance(data, bytes):
        raise HTTPError(400, "malformed multipart part")
    return name, _disposition_param(part, "filename", raw_disposition), data


def _disposition_param(part: Message, param: str, raw_disposition: str) -> str | None:
    """A Content-Disposition parameter, kept as sent (`get_filename` would strip spaces).

    The parser puts U+FFFD where a name*=charset''value (RFC 2231) does not
    decode; one that was not in the field as sent means the value was malformed.
    """
    value = part.get_param(param, header="Content-Disposition")
    if isinstance(value, tuple):
        value = collapse_rfc2231_value(value)
    if value is not None and "\ufffd" in value and "\ufffd" not in raw_disposition:
        raise HTTPError(400, f"multipart {param} does not decode")
    return value


def _text(part: Message, data: bytes) -> str:
    charset = part.get_content_charset("utf-8")
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise HTTPError(400, f"form field is not valid {charset}") from None


def _too_many(max_fields: int) -> HTTPError:
    return HTTPError(413, f"a form may have at most {max_fields} fields")
