"""Header fields and query parameters: ordered, multi-valued mappings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import overload


class MultiDict:
    """An ordered mapping in which a name may have several values.

    `d[name]` is the first value; `get_all(name)` is every value, in order.
    Used for query strings and form fields.

    Beside the items it keeps each name folded (`_key`) in a list of its own,
    so a lookup is one search of that list at C speed instead of folding
    every name again: a server asks a request for many fields it lacks.
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        self._items: list[tuple[str, str]]
        self._keys: list[str]
        if not items:  # every response starts empty: no need to look at the argument
            self._items, self._keys = [], []
            return
        if isinstance(items, Mapping):
            items = items.items()
        self._items = list(items)
        fold = self._key
        self._keys = [fold(name) for name, _ in self._items]

    #: How names are compared: as they are here; `Headers` ignores case.
    _key: Callable[[str], str] = staticmethod(str.__str__)

    def __getitem__(self, name: str) -> str:
        try:
            return self._items[self._keys.index(self._key(name))][1]
        except ValueError:
            raise KeyError(name) from None

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        key = self._key(name)
        keys = self._keys
        return self._items[keys.index(key)][1] if key in keys else default

    def get_all(self, name: str) -> list[str]:
        key = self._key(name)
        keys = self._keys
        if key not in keys:
            return []
        items = self._items
        return [items[index][1] for index, item_key in enumerate(keys) if item_key == key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self._key(name) in self._keys

    def __iter__(self) -> Iterator[str]:
        """Each distinct name once, as first spelled."""
        seen: set[str] = set()
        for (name, _), key in zip(self._items, self._keys, strict=True):
            if key not in seen:
                seen.add(key)
                yield name

    def __len__(self) -> int:
        return len(set(self._keys))

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included, in order."""
        return list(self._items)

    def keys(self) -> list[str]:
        return list(self)

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of `name` with `value`."""
        key = self._key(name)
        if key in self._keys:
            self._remove(key)
        self._items.append((name, value))
        self._keys.append(key)

    def __delitem__(self, name: str) -> None:
        if not self.pop_all(name):
            raise KeyError(name)

    def pop_all(self, name: str) -> list[str]:
        """Remove `name` entirely; return the values it had."""
        key = self._key(name)
        if key not in self._keys:
            return []
        return self._remove(key)

    def add(self, name: str, value: str) -> None:
        """Add a value for `name`, keeping the ones it has."""
        self._items.append((name, value))
        self._keys.append(self._key(name))

    def setdefault(self, name: str, value: str) -> str:
        existing = self.get(name)
        if existing is None:
            self.add(name, value)
            return value
        return existing

    def update(self, other: MultiDict | Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        """Set each name in `other`, replacing the values it had here.

        From another object of the same class (names folded alike), every value
        of each of its names is kept, and the fields are appended in one step:
        a server that sends the same fields again and again keeps them ready
        in a `Headers` of their own.
        """
        if type(other) is type(self):
            assert isinstance(other, MultiDict)
            keys = other._keys
            if self._keys:
                for key in set(keys).intersection(self._keys):
                    self._remove(key)
            self._items += other._items
            self._keys += keys
            return
        pairs = other.items() if isinstance(other, Mapping | MultiDict) else other
        for name, value in pairs:
            self[name] = value

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether any of `names`, given folded (lowercase for `Headers`), is here.

        One check for several fields that are usually all absent, such as the
        preconditions and Range a file server must look for.
        """
        return not names.isdisjoint(self._keys)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other) and len(self._items) == len(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def _remove(self, key: str) -> list[str]:
        """Drop every item whose folded name is `key`; return their values."""
        kept = [(item, item_key) for item, item_key in zip(self._items, self._keys, strict=True)
                if item_key != key]
        removed = [value for (_, value), item_key in zip(self._items, self._keys, strict=True)
                   if item_key == key]
        self._items = [item for item, _ in kept]
        self._keys = [item_key for _, item_key in kept]
        return removed


class Headers(MultiDict):
    """Header fields: names compare case-insensitively, values in arrival order.

    `headers[name]` joins repeated fields with ", " as RFC 9110 section 5.3
    allows; use `get_all` for fields that must not be joined (Set-Cookie).
    """

    __slots__ = ()

    _key = staticmethod(str.lower)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The joined values of `name` (see `__getitem__`), or `default`."""
        key = name.lower()
        keys = self._keys
        count = keys.count(key)
        if count == 1:
            return self._items[keys.index(key)][1]
        return ", ".join(self.get_all(name)) if count else default

    def encoded(self) -> list[tuple[bytes, bytes]]:
        """The fields as bytes for the wire; raises UnicodeEncodeError beyond Latin-1."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self._items]
