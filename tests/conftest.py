from __future__ import annotations

import os

import pytest
from harness import HARNESSES, Harness
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    """Every transport in turn: the conformance suite runs against each."""
    return HARNESSES[request.param]()  # type: ignore[no-any-return]
