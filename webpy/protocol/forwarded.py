"""Who the client really is, behind trusted proxies: `Forwarded` and `X-Forwarded-*`.

Theory of operation
-------------------
Behind nginx or HAProxy every connection comes from the proxy; the proxy
says who it relays for in request headers: RFC 7239's `Forwarded`, or the
older `X-Forwarded-For`, `-Proto` and `-Host`. Any client can send those
headers too, so they are believed only from peers on an allowlist
(`TrustedProxies`), and only as far as the chain of trusted hops goes:

1. Off by default. A server with an empty allowlist never reads these
   headers: the peer is the client.
2. One header family, chosen by the operator (`header="x-forwarded"`, the
   default, or ``"forwarded"``). A proxy that manages one family passes the
   other through from the client untouched; believing both would let the
   client pick.
3. Each proxy appends the address it received the request from. Read from
   the right, every hop on the allowlist is skipped; the first hop that is
   not on it is the client. A chain of trusted hops only ends at its
   leftmost address.
4. The scheme and host come from the same hop as the client: its
   `Forwarded` element, or the `X-Forwarded-Proto`/`-Host` value at the same
   distance from the right (or the only value, when the proxies replace the
   header instead of appending to it).
5. A malformed header, or a malformed part that the walk reaches, is not
   believed at all: the request keeps the peer, scheme and Host it came
   with. Each kind of problem is logged once per `TrustedProxies`, so a
   misconfigured proxy shows up in the log without flooding it; malformed
   parts to the left of the client (sent by the client itself) are never
   reached, so they are neither believed nor logged.

This module is HTTP header interpretation and nothing else: header bytes and
the peer's address in, an `Origin` out. The transport says who the peer is;
the driver puts the result into the request (client, scheme, Host), the
access log and the WSGI environ and ASGI scope built from the request.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger("webpy")

Address = tuple[str, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Allowlist entries that are not addresses.
TRUST_ANY = "*"
TRUST_UNIX = "unix"  # peers without an IP address: unix domain sockets


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, after the trusted proxies are accounted for.

    - `client`: the client's ``(address, port)``; port 0 when the proxy did
      not say; None when unknown (``for=unknown``)
    - `scheme`: ``"http"`` or ``"https"`` as the client used it
    - `host`: the Host the client asked for, when a trusted proxy said;
      None keeps the request's own Host field
    - `peer`: the connection's own peer (the nearest proxy), for the log
    - `forwarded`: whether any forwarding header was believed
    """

    client: Address | None
    scheme: str
    host: str | None = None
    peer: Address | None = None
    forwarded: bool = False


class TrustedProxies:
    """The allowlist of proxies whose forwarding headers are believed.

    `allow` is addresses and networks (``"127.0.0.1"``, ``"10.0.0.0/8"``,
    ``"::1"``), ``"unix"`` for peers on unix domain sockets, or ``"*"`` for
    every peer (only when nothing but the proxy can reach the server); a
    string is split on commas. A network with host bits set is an error, not
    silently widened. `header` is the family the proxies set:
    ``"x-forwarded"`` or ``"forwarded"``.
    """

    __slots__ = ("_any", "_decided", "_header", "_networks", "_reported", "_unix")

    def __init__(self, allow: str | Iterable[str], *, header: str = "x-forwarded") -> None:
        entries = allow.split(",") if isinstance(allow, str) else list(allow)
        networks: list[Network] = []
        self._any = self._unix = False
        for entry in (entry.strip() for entry in entries):
            if entry == TRUST_ANY:
                self._any = True
            elif entry == TRUST_UNIX:
                self._unix = True
            elif entry:
                try:
                    networks.append(ipaddress.ip_network(entry))
                except ValueError:
                    raise ValueError(f"not an address or network: {entry!r}") from None
        if header not in ("x-forwarded", "forwarded"):
            raise ValueError(f"header must be 'x-forwarded' or 'forwarded', not {header!r}")
        self._networks = tuple(networks)
        self._header = header
        self._reported: set[str] = set()
        #: Answers already worked out: the same few proxies ask on every request.
        self._decided: dict[str | None, bool] = {}

    def __bool__(self) -> bool:
        """False for an empty allowlist: nothing is ever believed."""
        return self._any or self._unix or bool(self._networks)

    def trusts(self, address: str | None) -> bool:
        """Whether a hop or peer at `address` is a trusted proxy.

        None, ``""`` and paths are unix-socket peers; ``"unknown"`` and
        obfuscated names (``"_hidden"``) are never trusted.
        """
        decided = self._decided.get(address)
        if decided is None:
            decided = self._decide(address)
            if len(self._decided) >= _DECIDED_MAX:  # bounded: hops are client-chosen text
                self._decided.clear()
            self._decided[address] = decided
        return decided

    def _decide(self, address: str | None) -> bool:
        if self._any:
            return True
        if not address or address.startswith("/"):
            return self._unix
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    def resolve(self, peer: Address | None, scheme: str,
                headers: Iterable[tuple[bytes, bytes]]) -> Origin:
        """The request's origin, from its peer, its scheme and its header fields.

        `headers` are the raw ``(name, value)`` pairs, names in any case.
        """
        origin = None
        if self.trusts(peer[0] if peer else None):
            if self._header == "forwarded":
                lines = [value for name, value in headers if name.lower() == b"forwarded"]
                if lines:
                    origin = self._resolve_forwarded(peer, scheme, lines)
            else:
                fields: dict[bytes, list[bytes]] = {}
                for name, value in headers:
                    lowered = name.lower()
                    if lowered in _X_FORWARDED:
                        fields.setdefault(lowered, []).append(value)
                if fields:
                    origin = self._resolve_x_forwarded(peer, scheme, fields)
        return origin or Origin(peer, scheme, None, peer)

    # -- Forwarded (RFC 7239) ------------------------------------------------------

    def _resolve_forwarded(self, peer: Address | None, scheme: str,
                           lines: list[bytes]) -> Origin | None:
        elements: list[str | None] = []  # None: a line whose quotes do not balance
        for line in lines:
            parts = _split_list(line.decode("latin-1"), ",")
            elements.extend([None] if parts is None else [p for p in parts if p.strip()])
        for index in range(len(elements) - 1, -1, -1):
            element = elements[index]
            pairs = _element_pairs(element) if element is not None else None
            if pairs is None:
                return self._report("malformed Forwarded header", peer, lines)
            node = pairs.get("for")
            hop = _forwarded_node(node) if node is not None else None
            if hop is None:
                return self._report("Forwarded element without a valid for=", peer, lines)
            if index > 0 and hop is not _UNKNOWN and self.trusts(hop[0]):
                continue
            return self._origin(peer, scheme, None if hop is _UNKNOWN else hop,
                                pairs.get("proto"), pairs.get("host"), "Forwarded", lines)
        return None

    # -- X-Forwarded-For, -Proto, -Host ------------------------------------------------

    def _resolve_x_forwarded(self, peer: Address | None, scheme: str,
                             fields: dict[bytes, list[bytes]]) -> Origin | None:
        client, skipped = peer, 0
        chain = _joined(fields.get(b"x-forwarded-for"))
        if chain:
            index = len(chain) - 1
            while True:  # parsed as reached: what lies left of the client is never read
                hop = _x_forwarded_node(chain[index])
                if hop is None:
                    return self._report("malformed X-Forwarded-For header", peer,
                                        fields[b"x-forwarded-for"])
                if index == 0 or hop is _UNKNOWN or not self.trusts(hop[0]):
                    break
                index -= 1
            client = None if hop is _UNKNOWN else hop
            skipped = len(chain) - 1 - index
        protos = _joined(fields.get(b"x-forwarded-proto"))
        hosts = _joined(fields.get(b"x-forwarded-host"))
        if not (chain or protos or hosts):
            return None  # only empty fields: nothing to believe
        return self._origin(peer, scheme, client, _at_hop(protos, skipped),
                            _at_hop(hosts, skipped), "X-Forwarded", fields)

    # -- shared ------------------------------------------------------------------------

    def _origin(self, peer: Address | None, scheme: str, client: Address | None,
                proto: str | None, host: str | None, family: str,
                raw: list[bytes] | dict[bytes, list[bytes]]) -> Origin | None:
        if proto is not None:
            proto = proto.lower()
            if proto not in ("http", "https"):
                return self._report(f"unsupported scheme in {family} header", peer, raw)
            scheme = proto
        if host is not None and not _HOST.fullmatch(host):
            return self._report(f"malformed host in {family} header", peer, raw)
        return Origin(client, scheme, host, peer, True)

    def _report(self, problem: str, peer: Address | None,
                raw: list[bytes] | dict[bytes, list[bytes]]) -> Origin | None:
        """Log `problem` the first time it is seen; None: the headers are ignored."""
        if problem not in self._reported:
            self._reported.add(problem)
            if isinstance(raw, dict):
                raw = [value for values in raw.values() for value in values]
            shown = b", ".join(raw)[:200]
            logger.warning("%s from %s ignored (logged once): %r", problem,
                           peer[0] if peer else "unix socket", shown)
        return None


def replace_host(headers: list[tuple[bytes, bytes]], host: str) -> list[tuple[bytes, bytes]]:
    """`headers` with the Host field set to `host`, as a trusted proxy reported it."""
    replaced = [(name, value) for name, value in headers if name.lower() != b"host"]
    replaced.append((b"host", host.encode("ascii")))
    return replaced


# -- parsing helpers -------------------------------------------------------------------

_DECIDED_MAX = 1024
_X_FORWARDED = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
_UNKNOWN = ("unknown", 0)  # a hop a proxy could not or would not name

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf"\s*({_TOKEN})=({_TOKEN}|\"(?:[^\"\\\x00-\x1f\x7f]|\\[\t\x20-\x7e])*\")\s*")
_QUOTED_PAIR = re.compile(r"\\(.)")
_OBFUSCATED = r"_[A-Za-z0-9._-]+"
_NODE = re.compile(rf"(?:(?P<v4>[0-9.]+)|\[(?P<v6>[0-9A-Fa-f:.]+)\]"
                   rf"|(?P<name>unknown|{_OBFUSCATED}))(?::(?P<port>[0-9]{{1,5}}|{_OBFUSCATED}))?")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+=-]+)(?::[0-9]{1,5})?")


def _split_list(text: str, separator: str) -> list[str] | None:
    """Split on `separator` outside quoted strings; None if the quotes do not balance."""
    parts, start, quoted, escaped = [], 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    if quoted or escaped:
        return None
    parts.append(text[start:])
    return parts


def _element_pairs(element: str) -> dict[str, str] | None:
    """The parameters of one Forwarded element, names lowered; None if malformed."""
    pairs: dict[str, str] = {}
    for pair in _split_list(element, ";") or ():
        if not pair.strip():
            continue
        match = _PAIR.fullmatch(pair)
        if match is None:
            return None
        name, value = match.group(1).lower(), match.group(2)
        if name in pairs:  # RFC 7239 section 4: at most once per element
            return None
        if value.startswith('"'):
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        pairs[name] = value
    return pairs


@functools.lru_cache(maxsize=1024)  # the same few addresses arrive again and again
def _forwarded_node(node: str) -> Address | None:
    """A `for=` value (RFC 7239 section 6): IPv4, [IPv6], unknown or _obfuscated."""
    match = _NODE.fullmatch(node)
    if match is None:
        return None
    port_text = match.group("port")
    port = int(port_text) if port_text and port_text[0] != "_" else 0
    if port > 65535:
        return None
    if match.group("name"):
        return _UNKNOWN if match.group("name") == "unknown" else (match.group("name"), port)
    return _ip_node(match.group("v4") or match.group("v6"), port, bool(match.group("v4")))


@functools.lru_cache(maxsize=1024)
def _x_forwarded_node(entry: str) -> Address | None:
    """An X-Forwarded-For entry: an address, or ``IPv4:port`` or ``[IPv6]:port``."""
    if entry == "unknown":
        return _UNKNOWN
    try:
        return str(ipaddress.ip_address(entry)), 0
    except ValueError:
        pass
    match = _NODE.fullmatch(entry)
    if match is None or match.group("name"):
        return None
    port_text = match.group("port") or "0"
    if port_text[0] == "_" or int(port_text) > 65535:
        return None
    return _ip_node(match.group("v4") or match.group("v6"), int(port_text),
                    bool(match.group("v4")))


def _ip_node(text: str, port: int, version4: bool) -> Address | None:
    try:
        ip = ipaddress.IPv4Address(text) if version4 else ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return str(ip), port


def _joined(lines: list[bytes] | None) -> list[str] | None:
    """Every comma-separated entry of every line, in order; None if there are none."""
    if not lines:
        return None
    text = lines[0] if len(lines) == 1 else b",".join(lines)
    # Empty list elements are ignored (RFC 9110 section 5.6.1).
    return [entry for entry in map(str.strip, text.decode("latin-1").split(",")) if entry]


def _at_hop(values: list[str] | None, skipped: int) -> str | None:
    """The value set by the hop `skipped` places left of the rightmost.

    Proxies that append give one value per hop; proxies that replace the
    header leave one value, set by the last of them: that one is used.
    """
    if not values:
        return None
    index = len(values) - 1 - skipped
    return values[index] if index >= 0 else values[0]
