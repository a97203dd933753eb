"""Regex routes: the first pattern that matches the whole path picks the handler."""

from __future__ import annotations

import re
from collections.abc import Mapping
from re import Match
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RouteError(ValueError):
    """A route table that cannot be served, found when it is compiled at start-up.

    A pattern that is not a valid regular expression, a table that is not a
    mapping, or a target that is not the right kind of handler class. The
    message names the culprit, so a command line can print it as one line.
    """


class Router(Generic[T]):
    """An ordered table of `(compiled pattern, target)`, matched with `fullmatch`.

    The mapping's order is the match order, so put specific routes before
    catch-alls. Patterns are compiled once, here; one that does not compile
    raises `RouteError` naming it, instead of failing deep inside `re`.
    """

    __slots__ = ("_routes",)

    def __init__(self, routes: Mapping[str, T] | None) -> None:
        if routes is None:
            routes = {}
        if not isinstance(routes, Mapping):
            raise RouteError(f"a route table must be a dict {{regex: handler class}}, "
                             f"not {_kind(routes)}")
        self._routes = [(_compile(pattern), target) for pattern, target in routes.items()]

    def match(self, text: str) -> tuple[T, Match[str]] | None:
        for pattern, target in self._routes:
            match = pattern.fullmatch(text)
            if match is not None:
                return target, match
        return None

    def targets(self) -> list[T]:
        return [target for _, target in self._routes]

    def items(self) -> list[tuple[str, T]]:
        """Each (pattern as written, target), in match order."""
        return [(pattern.pattern, target) for pattern, target in self._routes]


def _compile(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise RouteError(f"route {pattern!r} is {_kind(pattern)}; a route must be a regex string")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise RouteError(f"route {pattern!r} is not a valid regular expression: {error}") from None


def _kind(value: Any) -> str:
    """'a list', 'an int': how a message names what it got instead."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
