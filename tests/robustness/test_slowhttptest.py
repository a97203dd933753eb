"""slowhttptest, the standard slow-HTTP attack tool, against each socket transport.

Its three slow modes, each with 100 connections for up to two seconds: slow
headers (slowloris), slow bodies (R-U-Dead-Yet) and slow reads of a 1 MiB
response (a tiny receive window, read a few bytes at a time). While it runs, a
normal client keeps making requests, and every one must succeed; the tool's
statistics must show that its connections were made (else the test proves
nothing); and once it is over, threads and file descriptors return to their
baseline.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import CLIENT_TIMEOUT

from robustness.clients import Footprint, serving, settles_back

MODES = {"slow headers": ["-H"], "slow body": ["-B", "-s", "65536"],
         "slow read": ["-X", "-k", "8"]}
TARGETS = {"slow headers": "/", "slow body": "/", "slow read": "/big"}
#: Bounds the normal client's loop if the tool runs long; never reached in a normal run.
MOST_REQUESTS = 500


@pytest.fixture(scope="module")
def slowhttptest() -> str:
    path = shutil.which("slowhttptest")
    if path is None:
        pytest.skip("slowhttptest not installed")
    return path


@pytest.mark.parametrize("mode", MODES)
def test_normal_client_is_served_throughout_a_slowhttptest_attack(
        slowhttptest: str, transport: str, mode: str, tmp_path: Path) -> None:
    with serving(transport) as served:
        baseline = Footprint.now()
        attack = subprocess.Popen(
            [slowhttptest, *MODES[mode], "-c", "100", "-r", "200", "-i", "1", "-l", "2",
             "-p", "2", "-g", "-o", str(tmp_path / "stats"), "-u", served.url + TARGETS[mode]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            statuses = []
            while attack.poll() is None and len(statuses) < MOST_REQUESTS:
                statuses += served.normal_requests(1)
            attack.wait(timeout=CLIENT_TIMEOUT)
        finally:
            if attack.poll() is None:
                attack.kill()
                attack.wait()
        assert statuses and set(statuses) == {200}
        with open(tmp_path / "stats.csv", newline="") as stats:
            seconds = list(csv.DictReader(stats))
        reached = max(int(row["Connected"]) + int(row["Closed"]) for row in seconds)
        assert reached >= 50, f"the attack never got going: {seconds}"
        settles_back(baseline, extra_threads=served.spare_threads)
