"""Hypothesis strategies for HTTP/1.1 requests: well-formed ones, and damaged ones."""

from __future__ import annotations

from hypothesis import strategies as st

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%/?=&"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
field_values = st.text(VALUE_CHARS, max_size=30).map(str.strip)
split_points = st.lists(st.integers(min_value=0, max_value=2000), max_size=30)

#: Fields the generator controls itself; random ones must not collide with them.
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect", "te",
            "upgrade", "trailer"}


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A chunked body's wire bytes and the payload they carry."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    wire, payload = bytearray(), bytearray()
    for chunk in chunks:
        extension = draw(st.sampled_from([b"", b";a", b";a=b", b';q="x y"', b";n = v"]))
        size = b"%x" % len(chunk)
        if draw(st.booleans()):
            size = size.upper()
        wire += size + extension + b"\r\n" + chunk + b"\r\n"
        payload += chunk
    wire += b"0\r\n"
    for name, value in draw(st.lists(st.tuples(tokens, field_values), max_size=2)):
        wire += f"{name}: {value}\r\n".encode()
    wire += b"\r\n"
    return bytes(wire), bytes(payload)


@st.composite
def requests(draw: st.DrawFn, *, last: bool = True) -> bytes:
    """One well-formed request; `last=False` keeps the connection open after it."""
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"])) if last else "1.1"
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "BREW"]))
    target = "/" + draw(st.text(PATH_CHARS, max_size=30).filter(lambda t: "%" not in t))
    lines = [f"{method} {target} HTTP/{version}"]
    fields = [(name, value) for name, value in draw(st.lists(st.tuples(tokens, field_values),
                                                             max_size=6))
              if name.lower() not in RESERVED]
    if version == "1.1":
        fields.insert(draw(st.integers(0, len(fields))), ("Host", "example.test"))
    body_kind = draw(st.sampled_from(["none", "length", "chunked"] if version == "1.1"
                                     else ["none", "length"]))
    body = b""
    if body_kind == "length":
        body = draw(st.binary(max_size=60))
        fields.append(("Content-Length", str(len(body))))
    elif body_kind == "chunked":
        body, _ = draw(chunked_bodies())
        fields.append(("Transfer-Encoding", "chunked"))
    if last and draw(st.booleans()):
        fields.append(("Connection", "close"))
    lines += [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid request (or pipelined pair) with a few bytes deleted, replaced or inserted."""
    data = bytearray(draw(requests(last=False)) + draw(requests()))
    interesting = st.sampled_from(b"\r\n\x00 \t:;,\"\x7f\x80\xff0aZ")
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["delete", "replace", "insert", "duplicate"]))
        if action == "delete" and position < len(data):
            del data[position]
        elif action == "replace" and position < len(data):
            data[position] = draw(interesting)
        elif action == "insert":
            data.insert(position, draw(interesting))
        else:
            data[position:position] = data[position:position + draw(st.integers(1, 8))]
    return bytes(data)
