"""Every mistake on the command line, or in the app it names, is one line and exit status 2.

Each test runs ``python -m webpy`` as a user would and asserts on that one
line (it names the culprit) and the status: no traceback for a typo.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from cli.support import REPOSITORY, assert_one_line_error, environment, run_cli

HANDLER = "import webpy as web\n\nclass Hello(web.HTTPHandler):\n" \
          "    def do_get(self):\n        return 200, 'hello'\n\n"


def write_app(directory: Path, text: str, name: str = "myapp") -> Path:
    path = directory / f"{name}.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("arguments", "culprit", "valid_range"), [
    (["--threads", "0"], "--threads: 0", "from 1 to"),
    (["--threads", "-1"], "--threads: -1", "from 1 to"),
    (["-t", "many"], "'many' is not a whole number", "--threads"),
    (["--port", "99999"], "--port: 99999", "from 0 to 65535"),
    (["-p", "-1"], "--port: -1", "from 0 to 65535"),
    (["--processes", "0"], "--processes", "from 1 to"),
    (["--workers", "0"], "--workers", "from 1 to"),
    (["--max-connections", "0"], "--max-connections: 0", "from 1 to"),
    (["--keepalive-timeout", "0"], "--keepalive-timeout", "more than 0"),
    (["--grace-period", "-1"], "--grace-period", "0 or more"),
    (["--log-level", "loud"], "'loud'", "'debug', 'info', 'warning', 'error'"),
])
def test_values_out_of_range_are_refused_with_the_valid_range(
        arguments: list[str], culprit: str, valid_range: str) -> None:
    assert_one_line_error(run_cli(*arguments), culprit, valid_range)


def test_a_module_that_does_not_exist_is_named(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("--app", "nosuchapp:routes", cwd=tmp_path),
                          "no module named 'nosuchapp'", str(tmp_path))


def test_an_attribute_that_does_not_exist_is_named(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = {'/': Hello}\n")
    assert_one_line_error(run_cli("--app", "myapp:rootes", cwd=tmp_path),
                          "myapp", "no attribute 'rootes'")


def test_a_module_whose_own_import_fails_names_what_is_missing(tmp_path: Path) -> None:
    write_app(tmp_path, "import not_installed_anywhere\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          "importing myapp", "not_installed_anywhere")


def test_a_file_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("--app", "./missing.py:routes", cwd=tmp_path),
                          "no such file: ./missing.py")


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_app(tmp_path, HANDLER + "routes = {'/': Hello\n\nx = 1 +\n")
    line = assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                                 "syntax error", str(path))
    assert "line 7" in line or "line 9" in line, line


def test_routes_that_are_not_a_dict_are_refused(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = [('/', Hello)]\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          "routes is a list", "not a dict")


def test_a_route_regex_that_does_not_compile_is_named(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = {'/ok': Hello, '/items/(\\\\d+': Hello}\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          r"'/items/(\\d+'", "not a valid regular expression")


def test_a_route_to_a_function_is_refused_at_start_up(tmp_path: Path) -> None:
    write_app(tmp_path, "def hello():\n    return 200, 'hi'\n\nroutes = {'/': hello}\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          "'/'", "function hello", "HTTPHandler")


@pytest.mark.parametrize("transport", ["threaded", "trio"])
def test_a_port_in_use_names_the_address(transport: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("--transport", transport, "-b", "127.0.0.1", "-p", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "Address already in use")


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    assert_one_line_error(run_cli("--cert", missing), f"--cert {missing}",
                          "No such file or directory")


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    certificate = trustme.CA().issue_cert("localhost")
    certificate.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    (tmp_path / "key.pem").mkdir()  # unreadable as a file, whoever runs the test
    assert_one_line_error(run_cli("--cert", tmp_path / "cert.pem", "--key", tmp_path / "key.pem"),
                          f"--key {tmp_path / 'key.pem'}", "Is a directory")


def test_a_certificate_file_that_is_not_pem_is_named(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    assert_one_line_error(run_cli("--cert", tmp_path / "cert.pem"),
                          f"--cert {tmp_path / 'cert.pem'}", "PEM")


def test_a_key_without_a_certificate_is_refused(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("--key", tmp_path / "key.pem"), "--key needs --cert")


def test_the_port_given_twice_is_refused() -> None:
    assert_one_line_error(run_cli("9000", "--port", "9001"), "port is given twice")


def test_upload_with_an_app_is_refused(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = {'/': Hello}\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", "--upload", cwd=tmp_path),
                          "--upload", "--app")


def test_trio_not_installed_says_how_to_install_it() -> None:
    # The same command line, in an interpreter where `import trio` fails.
    code = ("import runpy, sys\n"
            "sys.modules['trio'] = None\n"
            "sys.argv = ['webpy', '--transport', 'trio', '-b', '127.0.0.1', '-p', '0']\n"
            "runpy.run_module('webpy', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, env=environment(),
                            capture_output=True, text=True, timeout=20, check=False)
    assert_one_line_error(result, "--transport trio needs trio", "pip install")


def test_error_routes_that_are_not_a_dict_are_refused(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = {'/': Hello}\nerror_routes = ['404']\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          "myapp.error_routes is a list", "not a dict")


def test_an_error_route_to_a_plain_handler_is_refused(tmp_path: Path) -> None:
    write_app(tmp_path, HANDLER + "routes = {'/': Hello}\nerror_routes = {'404': Hello}\n")
    assert_one_line_error(run_cli("--app", "myapp:routes", cwd=tmp_path),
                          "error_routes entry '404'", "class Hello", "HTTPErrorHandler")
