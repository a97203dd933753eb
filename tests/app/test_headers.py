"""Headers and MultiDict: every lookup agrees with the items, whatever was done to them.

Both keep their names folded in a list beside the items, for quick lookups;
the property test below drives them through random edits and compares every
answer with one worked out from the items alone.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webpy.app.forms import Form, MissingField
from webpy.app.headers import Headers, MultiDict

NAMES = st.sampled_from(["Host", "host", "HOST", "Accept", "accept", "ETag", "Vary", "x"])
VALUES = st.sampled_from(["a", "b", "", "1, 2"])
EDITS = st.lists(st.tuples(st.sampled_from(["set", "add", "pop", "del", "default", "update",
                                            "update-pairs"]),
                           NAMES, VALUES), max_size=12)


def _apply(mapping: MultiDict, model: list[tuple[str, str]], fold: type[str] | None,
           edit: tuple[str, str, str]) -> list[tuple[str, str]]:
    kind, name, value = edit

    def same(other: str) -> bool:
        return other.lower() == name.lower() if fold else other == name

    present = any(same(item) for item, _ in model)
    if kind == "set":
        mapping[name] = value
        return [item for item in model if not same(item[0])] + [(name, value)]
    if kind == "add":
        mapping.add(name, value)
        return [*model, (name, value)]
    if kind == "pop":
        assert mapping.pop_all(name) == [v for item, v in model if same(item)]
        return [item for item in model if not same(item[0])]
    if kind == "update":  # from the same class: every value of each name is kept
        other = [(name, value), ("x", value), (name, value + "2")]
        mapping.update(type(mapping)(other))
        renamed = {item for item, _ in other}
        return [item for item in model if not any(
            (item[0].lower() == other.lower() if fold else item[0] == other)
            for other in renamed)] + other
    if kind == "update-pairs":
        mapping.update([(name, value)])
        return [item for item in model if not same(item[0])] + [(name, value)]
    if kind == "default":
        mapping.setdefault(name, value)
        return model if present else [*model, (name, value)]
    if present:
        del mapping[name]
    else:
        with pytest.raises(KeyError):
            del mapping[name]
    return [item for item in model if not same(item[0])]


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6), EDITS)
def test_header_lookups_agree_with_the_items_after_any_edits(
        start: list[tuple[str, str]], edits: list[tuple[str, str, str]]) -> None:
    headers = Headers(start)
    model = list(start)
    for edit in edits:
        model = _apply(headers, model, str, edit)
    assert headers.items() == model
    for name in ("Host", "accept", "ETAG", "vary", "X", "missing"):
        values = [value for item, value in model if item.lower() == name.lower()]
        assert headers.get_all(name) == values
        assert headers.get(name) == (", ".join(values) if values else None)
        assert (name in headers) == bool(values)
        if values:
            assert headers[name] == ", ".join(values)
        else:
            with pytest.raises(KeyError):
                headers[name]
    assert len(headers) == len({item.lower() for item, _ in model})
    present = {item.lower() for item, _ in model}
    for names in ({"host"}, {"etag", "missing"}, {"missing"}, set()):
        assert headers.has_any(frozenset(names)) == bool(present & names)
    assert [name.lower() for name in headers] == list(dict.fromkeys(
        item.lower() for item, _ in model))


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6), EDITS)
def test_multidict_lookups_agree_with_the_items_after_any_edits(
        start: list[tuple[str, str]], edits: list[tuple[str, str, str]]) -> None:
    fields = MultiDict(start)
    model = list(start)
    for edit in edits:
        model = _apply(fields, model, None, edit)
    assert fields.items() == model
    for name in ("Host", "host", "Accept", "x", "missing"):
        values = [value for item, value in model if item == name]
        assert fields.get_all(name) == values
        assert fields.get(name) == (values[0] if values else None)
        assert fields.get(name, "default") == (values[0] if values else "default")
        assert (name in fields) == bool(values)


def test_repeated_header_fields_are_joined_with_a_comma() -> None:
    headers = Headers([("Accept", "text/html"), ("accept", "*/*")])
    assert headers["ACCEPT"] == "text/html, */*"
    assert headers.get("Accept") == "text/html, */*"


def test_absent_form_field_is_missing_field_but_get_gives_the_default() -> None:
    form = Form([("name", "Ada")])
    with pytest.raises(MissingField):
        form["age"]
    assert form.get("age") is None
    assert form.get("name") == "Ada"
