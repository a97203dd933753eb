"""Regex routes: the first pattern that matches the whole path picks the handler."""

from __future__ import annotations

import re
from collections.abc import Mapping
from re import Match
from typing import Generic, TypeVar

T = TypeVar("T")


class Router(Generic[T]):
    """An ordered table of `(compiled pattern, target)`, matched with `fullmatch`.

    The mapping's order is the match order, so put specific routes before
    catch-alls. Patterns are compiled once, here.
    """

    __slots__ = ("_routes",)

    def __init__(self, routes: Mapping[str, T] | None) -> None:
        self._routes = [(re.compile(pattern), target) for pattern, target in (routes or {}).items()]

    def match(self, text: str) -> tuple[T, Match[str]] | None:
        for pattern, target in self._routes:
            match = pattern.fullmatch(text)
            if match is not None:
                return target, match
        return None

    def targets(self) -> list[T]:
        return [target for _, target in self._routes]
