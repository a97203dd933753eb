"""The linters are part of the test suite: a finding fails it like a broken test would.

Both run on the checkout as a whole, with the configuration in pyproject.toml,
exactly as a developer would run them by hand.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: pip install -e '.[test]'")


def test_ruff_finds_nothing() -> None:
    _require("ruff")
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_the_package() -> None:
    _require("mypy")
    result = _run("mypy", "--strict", "webpy")
    assert result.returncode == 0, result.stdout + result.stderr
