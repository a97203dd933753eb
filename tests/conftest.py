from __future__ import annotations

import os
import ssl
from typing import Any

import pytest
import trustme
from harness import HARNESSES, Harness
from hypothesis import HealthCheck, settings

# CI runs the same examples every time (derandomize): a failure there reproduces,
# and edge cases that only some seeds reach are pinned with @example instead.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
# Long fuzzing runs by hand (HYPOTHESIS_PROFILE=fuzz pytest tests/robustness/test_fuzzing.py).
settings.register_profile("fuzz", max_examples=5_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    """Every transport in turn: the conformance suite runs against each."""
    return HARNESSES[request.param]()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    """A throwaway CA for TLS tests, over every socket transport."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI (CI=true) every test runs: a skip is turned into a failure.

    Tests that need a system tool (haproxy, postgresql, chromium...) skip with a
    one-line reason on a machine without it; `.ci/run` installs them all.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"
