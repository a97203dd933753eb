"""The library logs through `logging` and leaves configuring it to the application."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_and_serving_installs_no_log_handlers() -> None:
    # In a fresh interpreter: the test run's own logging setup must not hide a handler.
    code = (
        "import logging, webpy as web\n"
        "from webpy.transports.memory import Client\n"
        "class H(web.HTTPHandler):\n"
        "    def do_get(self):\n"
        "        raise RuntimeError('logged, not printed by a handler of ours')\n"
        "Client({'/': H}).get('/')\n"
        "names = ['webpy', 'webpy.access']\n"
        "assert all(not logging.getLogger(name).handlers for name in names)\n"
        "assert all(logging.getLogger(name).propagate for name in names)\n"
        "assert not logging.getLogger().handlers\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
