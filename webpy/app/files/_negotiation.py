"""Content negotiation: which content coding and which media type a client prefers.

Both `Accept-Encoding` (RFC 9110 section 12.5.3) and `Accept` (section
12.5.1) are lists of items with an optional weight ``q`` from 0 to 1; a
weight of 0 means "not acceptable". The server offers a few choices in its
own order of preference, and the client's weights pick among them, the
server's order breaking ties. A malformed item is skipped rather than
refused: negotiation only ever falls back to the plain response.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

#: Old names some clients still send for the codings the server knows.
_CODING_ALIASES = {"x-gzip": "gzip"}


def choose_coding(field: str | None, offered: Sequence[str]) -> str | None:
    """The content coding from `offered` (server's preference first) the client accepts best.

    None means identity: no field (a client that sends none gets the
    representation every client can read), an empty field, or nothing
    offered with a weight above 0.
    """
    if not field or not offered:
        return None
    return _choose_coding(field, tuple(offered))


@functools.lru_cache(maxsize=256)
def _choose_coding(field: str, offered: tuple[str, ...]) -> str | None:
    """`choose_coding`, remembered: clients send a few distinct fields, over and over."""
    weights = _coding_weights(field)
    default = weights.get("*", 0.0)
    best, best_weight = None, 0.0
    for coding in offered:
        weight = weights.get(coding, default)
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def coding_preference(field: str | None, offered: tuple[str, ...]) -> tuple[str, ...]:
    """The codings of `offered` the client accepts, the one it prefers most first.

    The first of them that the server can actually send is what
    `choose_coding` would choose among those it can send: weights decide,
    `offered`'s order breaks ties. So a server can look for one variant
    after another and stop at the first it has, instead of looking for all.
    Empty for no field or an empty one.
    """
    if not field or not offered:
        return ()
    return _coding_preference(field, offered)


@functools.lru_cache(maxsize=256)
def _coding_preference(field: str, offered: tuple[str, ...]) -> tuple[str, ...]:
    """`coding_preference`, remembered like `_choose_coding`."""
    weights = _coding_weights(field)
    default = weights.get("*", 0.0)
    ranked = sorted(((-weights.get(coding, default), index, coding)
                     for index, coding in enumerate(offered)))
    return tuple(coding for weight, _, coding in ranked if weight < 0)


def _coding_weights(field: str) -> dict[str, float]:
    """Each coding `field` names (aliases resolved) with its highest weight."""
    weights: dict[str, float] = {}
    for name, weight in _items(field):
        name = _CODING_ALIASES.get(name, name)
        weights[name] = max(weight, weights.get(name, 0.0))
    return weights


def choose_media_type(field: str | None, offered: Sequence[str]) -> str | None:
    """The media type from `offered` the `Accept` field ranks highest, the first on a tie.

    No field accepts anything, so the first offer is chosen. A type is
    weighed by the most specific range that covers it (``text/html`` before
    ``text/*`` before ``*/*``). None when nothing offered is acceptable.
    """
    if field is None:
        return offered[0] if offered else None
    ranges = list(_items(field))
    best, best_weight = None, 0.0
    for media_type in offered:
        weight = _media_weight(media_type, ranges)
        if weight > best_weight:
            best, best_weight = media_type, weight
    return best


def names_media_type(field: str | None, media_type: str) -> bool:
    """Whether `Accept` lists `media_type` itself with a weight above 0 (not through ``*/*``).

    Browsers name ``text/html``; command-line clients send ``*/*`` or nothing.
    """
    if field is None:
        return False
    return any(name == media_type and weight > 0 for name, weight in _items(field))


def _media_weight(media_type: str, ranges: list[tuple[str, float]]) -> float:
    main = media_type.split("/", 1)[0]
    exact = [weight for name, weight in ranges if name == media_type]
    if exact:
        return max(exact)
    partial = [weight for name, weight in ranges if name == main + "/*"]
    if partial:
        return max(partial)
    return max((weight for name, weight in ranges if name == "*/*"), default=0.0)


def _items(field: str) -> list[tuple[str, float]]:
    """The ``(lowercased name, weight)`` items of a weighted list; bad weights drop the item."""
    items = []
    for item in field.split(","):
        name, *parameters = item.split(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for parameter in parameters:
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                weight = _weight(value.strip())
        if weight >= 0:
            items.append((name, weight))
    return items


def _weight(text: str) -> float:
    """A ``q`` value (0 to 1, at most three decimals); -1 if it is not one."""
    if not text or len(text) > 5 or text[0] not in "01":
        return -1.0
    try:
        weight = float(text)
    except ValueError:
        return -1.0
    return weight if 0.0 <= weight <= 1.0 and text.replace(".", "", 1).isdigit() else -1.0
