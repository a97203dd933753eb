from __future__ import annotations

import pytest

from .support import TRANSPORTS


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each of webpy's socket transports in turn: threaded and trio."""
    return request.param  # type: ignore[no-any-return]
