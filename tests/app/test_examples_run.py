"""The examples run as scripts, the way their docstrings say, and stop cleanly.

Each is started on a free port (0), used over a real socket, then stopped
with Ctrl-C or SIGTERM: exit status 0 and no traceback, which is what a user
trying them expects.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Bounds that turn a hang into a failure; never reached when things work.
TIMEOUT = 20.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_trio_example_stops_on_a_signal_with_status_zero_and_no_traceback(
        signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "async_sleep.py"), "0"], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once the socket listens
        match = re.search(r"(http://\S+/sleep)", banner)
        assert match, (banner, process.stderr and process.stderr.read())
        response = httpx.get(match.group(1), params={"seconds": "0"}, timeout=TIMEOUT)
        assert response.text == "slept 0s; 1 requests were asleep together\n"
        process.send_signal(signum)
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
