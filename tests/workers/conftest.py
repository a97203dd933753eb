"""Every worker test runs with each transport the workers can serve with."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["threaded", "trio"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
