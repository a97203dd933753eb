from __future__ import annotations

import os
import ssl

import pytest
import trustme
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
