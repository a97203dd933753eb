from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .proxies import HAProxy, Nginx


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    proxy = Nginx(tmp_path)
    if proxy.binary is None:
        pytest.skip("nginx not installed (Debian package nginx-light)")
    yield proxy
    proxy.stop()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[HAProxy]:
    proxy = HAProxy(tmp_path)
    if proxy.binary is None:
        pytest.skip("haproxy not installed (Debian package haproxy)")
    yield proxy
    proxy.stop()
