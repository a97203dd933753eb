"""``python -m webpy --wsgi MODULE:APP`` and ``--asgi MODULE:APP``, run as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from .support import HERE, TIMEOUT

pytest.importorskip("flask", reason="flask not installed")


@contextmanager
def webpy_cli(*arguments: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run the command line on a free port; yield its URL (from its banner) and the process."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    process = subprocess.Popen(
        [sys.executable, "-m", "webpy", *arguments, "--bind", "127.0.0.1", "--port", "0"],
        cwd=HERE, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", banner)
        assert found, f"no URL in the banner: {banner!r}"
        yield found[0], process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, output
    return output


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_wsgi_flag_serves_a_flask_app(transport: str) -> None:
    with webpy_cli("--wsgi", "flask_app:app", "--transport", transport) as (base, process):
        response = httpx.get(base, timeout=TIMEOUT)
        assert "Hello from Flask" in response.text
        assert httpx.post(base + "items", json={"a": 1}, timeout=TIMEOUT).json()["stored"] == \
            {"a": 1}
        _stop(process)


def test_asgi_flag_serves_a_starlette_app_with_its_lifespan() -> None:
    pytest.importorskip("starlette", reason="starlette not installed")
    with webpy_cli("--asgi", "asgi_apps:starlette_app") as (base, process):
        response = httpx.get(base, timeout=TIMEOUT)
        assert response.json()["greeting"] == "hello from lifespan"
        _stop(process)


def test_asgi_startup_failure_stops_with_the_applications_message() -> None:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    result = subprocess.run(
        [sys.executable, "-m", "webpy", "--asgi", "failing_startup:app", "--bind", "127.0.0.1",
         "--port", "0"],
        cwd=HERE, env=environment, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 3
    assert "startup failed: cannot reach the database" in result.stderr
    assert "Serving" not in result.stdout


@pytest.mark.parametrize(("arguments", "message"), [
    (["--wsgi", "flask_app:app", "--asgi", "asgi_apps:starlette_app"], "give one"),
    (["--wsgi", "flask_app:nothing"], "has no attribute 'nothing'"),
    (["--wsgi", "flask_app:__name__"], "is a str, not an application"),
    (["--asgi", "no_such_module:app"], "no module named 'no_such_module'"),
])
def test_mistakes_are_one_line_and_status_2(arguments: list[str], message: str) -> None:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    result = subprocess.run([sys.executable, "-m", "webpy", *arguments, "--port", "0"],
                            cwd=HERE, env=environment, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
