"""The protocol and application layers do no I/O of their own.

Transports are the only place for sockets, event loops and clocks; that is
what lets one request cycle serve threads, trio and memory alike. Checked on
the source of every module, so a stray import fails here before it couples a
layer to one transport.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webpy

PACKAGE = Path(webpy.__file__).parent

#: Modules no layer below the transports may import.
IO_MODULES = {"socket", "select", "selectors", "ssl", "trio", "anyio", "asyncio",
              "socketserver", "http.server", "http.client", "urllib.request"}
#: The protocol layer also keeps no threads and reads no clock (the caller passes the date).
PROTOCOL_ONLY = {"threading", "_thread", "time", "datetime", "multiprocessing", "concurrent"}


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Absolute names of everything `path` imports, relative imports resolved."""
    # The package a module's relative imports start from (for __init__.py, its own).
    package = path.relative_to(PACKAGE.parent).parent.parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module or "")
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(names: set[str], forbidden: set[str]) -> set[str]:
    return {name for name in names
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden)}


@pytest.mark.parametrize("path", _modules("protocol"), ids=lambda path: path.name)
def test_protocol_layer_does_no_io_keeps_no_clock_and_knows_no_app(path: Path) -> None:
    names = _imports(path)
    assert not _forbidden(names, IO_MODULES | PROTOCOL_ONLY | {"webpy.app",
                                                               "webpy.transports"})


@pytest.mark.parametrize("path", _modules("app"), ids=lambda path: path.name)
def test_app_layer_does_no_io_and_knows_no_transport(path: Path) -> None:
    assert not _forbidden(_imports(path), IO_MODULES | {"webpy.transports"})


def test_import_checker_sees_relative_and_plain_imports() -> None:
    # Guards the guard: the driver's imports, relative and absolute, must be seen.
    names = _imports(PACKAGE / "transports" / "driver.py")
    assert {"webpy.protocol", "webpy.app", "webpy.app.locks", "time", "logging"} <= names
    assert _forbidden(names, {"time"}) == {"time"}
    assert "webpy.app.locks" in _forbidden(names, {"webpy.app"})
