"""The socket transports every hostile-client scenario runs on."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["threaded", "trio"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]
