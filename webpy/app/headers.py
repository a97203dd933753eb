"""Header fields and query parameters: ordered, multi-valued mappings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import overload


class MultiDict:
    """An ordered mapping in which a name may have several values.

    `d[name]` is the first value; `get_all(name)` is every value, in order.
    Used for query strings and form fields.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        if isinstance(items, Mapping):
            items = items.items()
        self._items: list[tuple[str, str]] = list(items)

    #: How names are compared: as they are here; `Headers` ignores case.
    _key: Callable[[str], str] = staticmethod(str.__str__)

    def __getitem__(self, name: str) -> str:
        fold = self._key
        key = fold(name)
        for item_name, value in self._items:
            if fold(item_name) == key:
                return value
        raise KeyError(name)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        fold = self._key
        key = fold(name)
        for item_name, value in self._items:
            if fold(item_name) == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        fold = self._key
        key = fold(name)
        return [value for item_name, value in self._items if fold(item_name) == key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        fold = self._key
        key = fold(name)
        return any(fold(item_name) == key for item_name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        """Each distinct name once, as first spelled."""
        seen: set[str] = set()
        for name, _ in self._items:
            key = self._key(name)
            if key not in seen:
                seen.add(key)
                yield name

    def __len__(self) -> int:
        return len({self._key(name) for name, _ in self._items})

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included, in order."""
        return list(self._items)

    def keys(self) -> list[str]:
        return list(self)

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of `name` with `value`."""
        fold = self._key
        key = fold(name)
        for item_name, _ in self._items:
            if fold(item_name) == key:  # only then is the list rebuilt
                self.pop_all(name)
                break
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        if not self.pop_all(name):
            raise KeyError(name)

    def pop_all(self, name: str) -> list[str]:
        """Remove `name` entirely; return the values it had."""
        fold = self._key
        key = fold(name)
        removed = [value for item_name, value in self._items if fold(item_name) == key]
        if removed:
            self._items = [item for item in self._items if fold(item[0]) != key]
        return removed

    def add(self, name: str, value: str) -> None:
        """Add a value for `name`, keeping the ones it has."""
        self._items.append((name, value))

    def setdefault(self, name: str, value: str) -> str:
        existing = self.get(name)
        if existing is None:
            self._items.append((name, value))
            return value
        return existing

    def update(self, other: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        """Set each name in `other`, replacing the values it had here."""
        pairs = other.items() if isinstance(other, Mapping) else other
        for name, value in pairs:
            self[name] = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other) and len(self._items) == len(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(MultiDict):
    """Header fields: names compare case-insensitively, values in arrival order.

    `headers[name]` joins repeated fields with ", " as RFC 9110 section 5.3
    allows; use `get_all` for fields that must not be joined (Set-Cookie).
    """

    __slots__ = ()

    _key = staticmethod(str.lower)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The joined values of `name` (see `__getitem__`), or `default` without raising:
        most fields a server asks for (If-Match, Range...) are absent."""
        values = self.get_all(name)
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def encoded(self) -> list[tuple[bytes, bytes]]:
        """The fields as bytes for the wire; raises UnicodeEncodeError beyond Latin-1."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self._items]
