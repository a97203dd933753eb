"""`SQLiteStore`: a dict's behaviour, shared by every process that opens the file."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from webpy.app.store import SQLiteStore

FORK = multiprocessing.get_context("fork")


def test_sqlite_store_behaves_as_a_mapping_of_str_to_bytes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "kv.sqlite3")
    store["a"] = b"1"
    store["b"] = "zwei \u00fc"  # a str is kept as its UTF-8 bytes
    store["a"] = bytearray(b"one")
    assert store["a"] == b"one"
    assert store["b"] == "zwei \u00fc".encode()
    assert sorted(store) == ["a", "b"] and len(store) == 2
    assert "a" in store and "c" not in store and 3 not in store
    assert store.get("c") is None
    with pytest.raises(KeyError):
        store["c"]
    del store["a"]
    with pytest.raises(KeyError):
        del store["a"]
    assert dict(store.items()) == {"b": "zwei \u00fc".encode()}


def test_sqlite_store_is_in_wal_mode_so_readers_never_wait_for_a_writer(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "kv.sqlite3")
    with sqlite3.connect(tmp_path / "kv.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _write_in_child(store: SQLiteStore) -> None:
    store["from child"] = b"hello"  # through the store made before the fork


def test_a_store_made_before_fork_is_shared_with_the_forked_process(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "kv.sqlite3")
    store["from parent"] = b"hi"
    child = FORK.Process(target=_write_in_child, args=(store,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert store["from child"] == b"hello"
    assert SQLiteStore(tmp_path / "kv.sqlite3")["from parent"] == b"hi"


def test_table_names_are_plain_identifiers(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteStore(tmp_path / "kv.sqlite3", table="x; DROP TABLE y")
