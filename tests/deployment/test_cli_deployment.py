"""The command line's deployment options, end to end: --uds, --fd, systemd socket
activation, --proxy-protocol and --forwarded-allow behind real proxies, and mistakes."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .cli import CLI, environment, run
from .proxies import HAProxy, Nginx, get_through

TIMEOUT = 10.0
TRANSPORTS = ["threaded", "trio"]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="webpy-"))  # unix paths: at most 107 bytes
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def get_unix(path: Path) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=TIMEOUT) as client:
        return client.get("http://localhost/")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_uds_with_mode(transport: str, short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    with CLI("--transport", transport, "--uds", str(path), "--uds-mode", "660") as server:
        assert "+unix://" in server.banner
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        response = get_unix(path)
        assert server.stop() == 0
    assert response.status_code == 200
    assert response.text == f"pid={server.process.pid} client=- scheme=http"


def test_uds_where_a_server_listens_is_refused_and_left_alone(short_tmp: Path) -> None:
    path = short_tmp / "web.sock"
    with CLI("--uds", str(path)) as first:
        second = run("--uds", str(path))
        assert second.returncode == 2
        assert second.stderr.startswith(f"webpy: error: cannot listen on {path}")
        assert get_unix(path).text.startswith(f"pid={first.process.pid} ")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fd_passed_by_a_real_parent(transport: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=9)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    try:
        with CLI("--transport", transport, "--fd", str(fd), pass_fds=(fd,)) as server:
            response = httpx.get(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
            assert server.stop() == 0
        assert response.text.startswith(f"pid={server.process.pid} client=127.0.0.1 ")
    finally:
        listener.close()


#: What systemd does between fork and exec: the sockets at fds 3, 4..., LISTEN_FDS,
#: LISTEN_PID set to the process's own pid (exec keeps it), then exec.
LAUNCHER = """
import os, sys
fds = [int(fd) for fd in sys.argv[1].split(",")]
for target, fd in enumerate(fds, 3):
    os.dup2(fd, target)
os.environ.update(LISTEN_FDS=str(len(fds)), LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_systemd_socket_activation_with_two_sockets(transport: str, short_tmp: Path) -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(short_tmp / "web.sock"))
    unix.listen()
    fds = (tcp.fileno(), unix.fileno())
    prefix = (sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)))
    try:
        with CLI("--transport", transport, prefix=prefix, pass_fds=fds) as server:
            over_tcp = httpx.get(f"http://127.0.0.1:{tcp.getsockname()[1]}/", timeout=TIMEOUT)
            over_unix = get_unix(short_tmp / "web.sock")
            assert server.stop() == 0
        assert over_tcp.text.startswith(f"pid={server.process.pid} client=127.0.0.1 ")
        assert over_unix.text == f"pid={server.process.pid} client=- scheme=http"
    finally:
        tcp.close()
        unix.close()


def test_real_systemd_socket_activate(short_tmp: Path) -> None:
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate (systemd) not installed")
    path = short_tmp / "web.sock"
    # It gives the service a fresh environment: only what --setenv names gets through.
    prefix = (tool, "-l", str(path), f"--setenv=PYTHONPATH={environment()['PYTHONPATH']}")
    activator = subprocess.Popen([*prefix, sys.executable, "-m", "webpy", "--app",
                                  str(Path(__file__).with_name("whoami_app.py")) + ":routes"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert activator.stderr is not None
        ready = activator.stderr.readline()  # "Listening on PATH as 3.": it listens, we connect
        assert "Listening on" in ready, ready
        response = get_unix(path)  # queued until webpy, started for it, accepts
        assert response.status_code == 200
        assert response.text.endswith("client=- scheme=http")
    finally:
        activator.terminate()
        activator.wait(TIMEOUT)


@pytest.mark.parametrize("option", ["send-proxy", "send-proxy-v2"])
def test_proxy_protocol_behind_haproxy(haproxy: HAProxy, option: str) -> None:
    with CLI("--port", "0", "--bind", "127.0.0.1", "--proxy-protocol") as server:
        upstream_port = int(server.banner.split(":")[-1].split("/")[0])
        address = haproxy.start(upstream_port, server_options=option,
                                frontend="option http-server-close")
        local, data = get_through(address)
        assert server.stop() == 0
    assert data.endswith(f"client={local[0]} {local[1]} scheme=http".encode())
    assert f"{local[0]} - - [" in server.errors  # the access log names the real client


def test_forwarded_allow_behind_nginx(nginx: Nginx) -> None:
    with CLI("--port", "0", "--bind", "127.0.0.1", "--forwarded-allow", "127.0.0.1") as server:
        upstream_port = int(server.banner.split(":")[-1].split("/")[0])
        address = nginx.start(upstream_port)
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
            response = client.get(f"http://{address[0]}:{address[1]}/",
                                  headers={"X-Forwarded-For": "6.6.6.6"})
        assert server.stop() == 0
    assert response.text.endswith("client=127.0.0.2 0 scheme=http")
    assert "127.0.0.2 - - [" in server.errors and "6.6.6.6" not in server.errors


@pytest.mark.parametrize(("arguments", "culprit"), [
    (("--uds-mode", "660"), "--uds-mode needs --uds"),
    (("--uds", "/tmp/x.sock", "--uds-mode", "1777"), "not a file mode"),
    (("--uds", "/tmp/x.sock", "--uds-mode", "999"), "not an octal file mode"),
    (("--uds", "/tmp/x.sock", "--uds-mode", "rw"), "not an octal file mode"),
    (("--fd", "987"), "--fd 987"),
    (("--forwarded-allow", "10.0.0.1/8"), "--forwarded-allow"),
    (("--forwarded-allow", "proxy.example"), "--forwarded-allow"),
])
def test_mistakes_are_one_line_and_status_2(arguments: tuple[str, ...], culprit: str) -> None:
    result = run(*arguments)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert culprit in result.stderr


def test_uds_on_a_file_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("data")
    result = run("--uds", str(keep))
    assert result.returncode == 2 and "cannot listen on" in result.stderr
    assert keep.read_text() == "data"
