"""``python -m webpy`` serving: the forms users type, the banner, the logs and a clean stop."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from cli.support import TIMEOUT, Server, environment, free_port, run_cli
from webpy import __version__
from webpy.__main__ import build_parser

APP = ("import webpy as web\n\nclass Hello(web.HTTPHandler):\n"
       "    def do_get(self):\n        return 200, 'hello from the app'\n\n"
       "routes = {'/': Hello}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.txt").write_text("hello from the directory\n")
    return tmp_path / "site"


def test_a_number_as_the_argument_is_the_port_to_serve_the_current_directory_on(
        site: Path) -> None:
    port = free_port()
    with Server(str(port), "-b", "127.0.0.1", cwd=site) as server:
        assert server.port == port
        assert str(site) in server.banner
        assert httpx.get(f"{server.url}/hello.txt", timeout=TIMEOUT).text == \
            "hello from the directory\n"


def test_a_directory_named_like_a_number_is_served_as_a_directory(site: Path) -> None:
    (site / "9000").mkdir()
    (site / "9000" / "inside.txt").write_text("inside\n")
    with Server("9000", "-b", "127.0.0.1", "-p", "0", cwd=site) as server:
        assert httpx.get(f"{server.url}/inside.txt", timeout=TIMEOUT).text == "inside\n"


def test_directory_option_and_short_flags(site: Path, tmp_path: Path) -> None:
    with Server("-d", site, "-b", "127.0.0.1", "-p", "0", "-t", "2", cwd=tmp_path) as server:
        assert httpx.get(f"{server.url}/hello.txt", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_a_stop_says_so_in_one_line_and_exits_zero(
        site: Path, signum: int, transport: str) -> None:
    server = Server(site, "-b", "127.0.0.1", "-p", "0", "--transport", transport,
                    "--grace-period", "3")
    with server:
        assert httpx.get(f"{server.url}/hello.txt", timeout=TIMEOUT).status_code == 200
        assert server.stop(signum) == 0
    name = signal.Signals(signum).name
    assert server.output.splitlines() == [
        f"Stopping on {name}: requests in flight have 3 s to finish"]
    assert "Traceback" not in server.errors


def test_an_app_given_as_a_file_path_is_served(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "myapp.py").write_text(APP)
    with Server("--app", "./project/myapp.py:routes", "-b", "127.0.0.1", "-p", "0",
                cwd=tmp_path) as server:
        assert httpx.get(f"{server.url}/", timeout=TIMEOUT).text == "hello from the app"


def test_an_app_module_defaults_to_its_routes(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(APP)
    with Server("--app", "myapp", "-b", "127.0.0.1", "-p", "0", cwd=tmp_path) as server:
        assert httpx.get(f"{server.url}/", timeout=TIMEOUT).text == "hello from the app"


def test_log_levels_are_accepted_in_lower_case(site: Path) -> None:
    with Server(site, "-b", "127.0.0.1", "-p", "0", "--log-level", "warning") as server:
        assert httpx.get(f"{server.url}/hello.txt", timeout=TIMEOUT).status_code == 200
        server.stop()
    assert "GET /hello.txt" not in server.errors  # no access log below info
    with Server(site, "-b", "127.0.0.1", "-p", "0", "--log-level", "info") as server:
        assert httpx.get(f"{server.url}/hello.txt", timeout=TIMEOUT).status_code == 200
        server.stop()
    assert '"GET /hello.txt HTTP/1.1" 200' in server.errors


def test_uvicorn_style_certificate_options_serve_https(site: Path, tmp_path: Path) -> None:
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    issued.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    with Server(site, "-b", "127.0.0.1", "-p", "0", "--ssl-certfile", tmp_path / "cert.pem",
                "--ssl-keyfile", tmp_path / "key.pem") as server:
        assert server.url.startswith("https://")
        response = httpx.get(f"{server.url}/hello.txt", verify=client_context, timeout=TIMEOUT)
        assert response.text == "hello from the directory\n"


def test_version_is_printed() -> None:
    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"webpy {__version__}")


def test_every_option_has_help_text() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for action in build_parser()._actions:
        assert action.help, action.option_strings or action.dest
        for flag in action.option_strings:
            assert flag in result.stdout


SLOW_APP = """
import os
import webpy as web

class Slow(web.HTTPHandler):
    def do_get(self):
        print('in the handler', flush=True)
        with open(os.environ['GATE']) as gate:  # a FIFO: blocks until the test opens it
            gate.read()
        return 200, 'finished after the stop began'

routes = {'/slow': Slow}
"""


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_a_request_in_flight_finishes_within_the_grace_period(
        tmp_path: Path, transport: str) -> None:
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    server = Server("--app", "slowapp:routes", "-b", "127.0.0.1", "-p", "0", "--transport",
                    transport, "--grace-period", "60", cwd=tmp_path,
                    env=environment(GATE=str(gate)))
    with server, concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert server.process.stdout is not None
        answer = pool.submit(httpx.get, f"{server.url}/slow", timeout=TIMEOUT)
        assert server.process.stdout.readline() == "in the handler\n"
        server.process.send_signal(signal.SIGTERM)
        assert server.process.stdout.readline().startswith("Stopping on SIGTERM")
        with open(gate, "w"):
            pass  # lets the handler return
        response = answer.result(timeout=TIMEOUT)
        assert (response.status_code, response.text) == (200, "finished after the stop began")
        assert server.process.wait(timeout=TIMEOUT) == 0


def test_ctrl_c_while_the_app_is_still_importing_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "slowstart.py").write_text(
        "import os\nprint('importing', flush=True)\n"
        "open(os.environ['GATE']).read()  # a FIFO nobody opens: the import never ends\n")
    os.mkfifo(tmp_path / "gate")
    process = subprocess.Popen(
        [sys.executable, "-m", "webpy", "--app", "slowstart:routes", "-p", "0"], cwd=tmp_path,
        env=environment(GATE=str(tmp_path / "gate")), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "importing\n"
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (process.returncode, errors) == (130, "webpy: interrupted while starting\n")
