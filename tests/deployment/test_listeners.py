"""Listening sockets from unix paths, inherited descriptors and systemd."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from webpy.transports import listeners

CHILD = str(Path(__file__).with_name("listener_child.py"))
TIMEOUT = 10.0


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory with a short path: unix socket paths are limited to 107 bytes."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="webpy-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def exchange(sock: socket.socket, data: bytes = b"ping") -> bytes:
    """Accept one connection on `sock` from a client that sends `data`; return what arrived."""
    client = socket.socket(sock.family, socket.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    client.connect(sock.getsockname())
    client.sendall(data)
    sock.settimeout(TIMEOUT)
    server_side, _ = sock.accept()
    with server_side, client:
        server_side.settimeout(TIMEOUT)
        return server_side.recv(100)


def connect_until_answered(address: str | tuple[str, int], family: int) -> bytes:
    """Connect (retrying while nothing listens yet, for at most TIMEOUT) and read to EOF."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        client = socket.socket(family, socket.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        try:
            client.connect(address)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # polling for readiness, bounded by the deadline
    with client:
        data = b""
        while chunk := client.recv(4096):
            data += chunk
        return data


def run_child(*arguments: str, **options: object) -> subprocess.Popen[bytes]:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    environment.update(options.pop("env", {}))  # type: ignore[call-overload]
    return subprocess.Popen([*arguments], stdout=subprocess.PIPE, env=environment,
                            **options)  # type: ignore[call-overload]


def listen_backlog(port: int) -> int:
    """The backlog of the TCP listener on `port`, as the kernel reports it (ss's Send-Q)."""
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) not installed")
    output = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                            text=True, check=True, timeout=TIMEOUT).stdout
    return int(output.split()[2])


# -- unix domain sockets ------------------------------------------------------------------


def test_unix_socket_listens_with_the_requested_mode(short_tmp: Path) -> None:
    path = str(short_tmp / "web.sock")
    with listeners.unix(path, mode=0o660) as sock:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert exchange(sock) == b"ping"


def test_stale_socket_file_is_replaced(short_tmp: Path) -> None:
    path = str(short_tmp / "web.sock")
    gone = socket.socket(socket.AF_UNIX)
    gone.bind(path)
    gone.close()  # a crashed server leaves its file behind
    assert os.path.exists(path)
    with listeners.unix(path) as sock:
        assert exchange(sock) == b"ping"


def test_socket_a_server_listens_on_is_left_alone(short_tmp: Path) -> None:
    path = str(short_tmp / "web.sock")
    with listeners.unix(path) as live:
        with pytest.raises(OSError) as caught:
            listeners.unix(path)
        assert caught.value.errno == errno.EADDRINUSE
        live.settimeout(TIMEOUT)
        probe, _ = live.accept()  # the live server sees the probe as an empty connection
        with probe:
            assert probe.recv(100) == b""
        assert exchange(live) == b"ping"  # still reachable


def test_socket_with_a_full_queue_counts_as_listening(short_tmp: Path) -> None:
    path = str(short_tmp / "web.sock")
    live = socket.socket(socket.AF_UNIX)
    live.bind(path)
    live.listen(0)
    queued = []
    try:
        while True:  # fill the accept queue (bounded: the kernel refuses soon)
            client = socket.socket(socket.AF_UNIX)
            client.setblocking(False)
            queued.append(client)
            try:
                client.connect(path)
            except BlockingIOError:
                break
            assert len(queued) < 100
        with pytest.raises(OSError) as caught:
            listeners.unix(path)
        assert caught.value.errno == errno.EADDRINUSE
        assert os.path.exists(path)
    finally:
        for client in queued:
            client.close()
        live.close()


def test_a_file_that_is_not_a_socket_is_never_removed(short_tmp: Path) -> None:
    path = short_tmp / "important.txt"
    path.write_text("keep me")
    with pytest.raises(OSError) as caught:
        listeners.unix(str(path))
    assert caught.value.errno == errno.EEXIST
    assert path.read_text() == "keep me"


# -- TCP with SO_REUSEPORT ------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_reuse_port_lets_two_listeners_share_a_port() -> None:
    with listeners.tcp("127.0.0.1", 0, reuse_port=True) as first:
        port = first.getsockname()[1]
        with listeners.tcp("127.0.0.1", port, reuse_port=True) as second:
            assert second.getsockname()[1] == port
            client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            with client:
                ready = [sock for sock in (first, second) if _accepts(sock)]
                assert len(ready) == 1  # the kernel gave the connection to one of them
        with pytest.raises(OSError):
            listeners.tcp("127.0.0.1", port)  # without the option the port is taken


def _accepts(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


# -- inherited descriptors: a real parent passes an fd ---------------------------------------


def test_child_serves_a_listening_socket_its_parent_passed_without_relistening() -> None:
    parent = socket.create_server(("127.0.0.1", 0), backlog=5)
    port = parent.getsockname()[1]
    early = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)  # queued
    child = run_child(sys.executable, CHILD, "fd", str(parent.fileno()),
                      pass_fds=[parent.fileno()])
    try:
        with early:
            answer = b""
            while chunk := early.recv(4096):
                answer += chunk
        assert json.loads(answer)["pid"] == child.pid  # the queued client reached the child
        assert child.wait(TIMEOUT) == 0
        assert listen_backlog(port) == 5  # the parent's backlog, not listened on again
    finally:
        child.kill()
        child.wait()
        parent.close()


def test_child_listens_on_a_bound_socket_its_parent_passed() -> None:
    parent = socket.socket()
    parent.bind(("127.0.0.1", 0))  # bound, not listening
    child = run_child(sys.executable, CHILD, "fd", str(parent.fileno()),
                      pass_fds=[parent.fileno()])
    try:
        answer = connect_until_answered(parent.getsockname(), socket.AF_INET)
        assert json.loads(answer)["pid"] == child.pid
        assert child.wait(TIMEOUT) == 0
    finally:
        child.kill()
        child.wait()
        parent.close()


def test_descriptor_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "file", "w") as file, pytest.raises(OSError, match="not a socket"):
        listeners.inherited(file.fileno())


def test_datagram_socket_is_refused_and_left_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(OSError, match="not a stream socket"):
            listeners.inherited(udp.fileno())
        assert udp.fileno() >= 0


# -- systemd socket activation -------------------------------------------------------------

#: Does what systemd does between fork and exec: the sockets at fds 3, 4...,
#: LISTEN_PID set to the process's own pid (exec keeps it), then exec.
LAUNCHER = """
import os, sys
fds = [int(fd) for fd in sys.argv[1].split(",")]
for target, fd in enumerate(fds, 3):
    os.dup2(fd, target)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_FDNAMES"] = ":".join("web%d" % i for i in range(len(fds)))
pid = os.getpid() if sys.argv[2] == "self" else 1
os.environ["LISTEN_PID"] = str(pid)
os.execv(sys.executable, [sys.executable] + sys.argv[3:])
"""


def test_socket_activation_takes_every_passed_socket_and_clears_the_variables(
        short_tmp: Path) -> None:
    tcp = socket.create_server(("127.0.0.1", 0), backlog=7)
    unix = listeners.unix(str(short_tmp / "web.sock"))
    fds = [tcp.fileno(), unix.fileno()]
    child = run_child(sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)), "self",
                      CHILD, "systemd", pass_fds=fds)
    try:
        via_tcp = json.loads(connect_until_answered(tcp.getsockname(), socket.AF_INET))
        via_unix = json.loads(connect_until_answered(unix.getsockname(), socket.AF_UNIX))
        assert via_tcp == via_unix
        assert via_tcp["pid"] == child.pid
        assert via_tcp["fds"] == [3, 4]
        assert via_tcp["families"] == ["AF_INET", "AF_UNIX"]
        assert via_tcp["environment"] == {"LISTEN_PID": None, "LISTEN_FDS": None,
                                          "LISTEN_FDNAMES": None}
        assert child.wait(TIMEOUT) == 0
        assert listen_backlog(tcp.getsockname()[1]) == 7
    finally:
        child.kill()
        child.wait()
        tcp.close()
        unix.close()


def test_socket_activation_meant_for_another_process_is_ignored() -> None:
    tcp = socket.create_server(("127.0.0.1", 0))
    child = run_child(sys.executable, "-c", LAUNCHER, str(tcp.fileno()), "other",
                      CHILD, "systemd", pass_fds=[tcp.fileno()])
    try:
        assert child.stdout is not None
        report = json.loads(child.stdout.readline())
        assert report["fds"] == []
        assert report["environment"]["LISTEN_FDS"] == "1"  # left for whom it was meant
        assert child.wait(TIMEOUT) == 0
    finally:
        child.kill()
        child.wait()
        tcp.close()


def test_no_socket_activation_without_the_variables() -> None:
    assert listeners.systemd({}) == []
    assert listeners.systemd({"LISTEN_FDS": "1"}) == []


def test_real_systemd_socket_activate_starts_the_child_with_its_socket(short_tmp: Path) -> None:
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate (systemd) not installed")
    path = str(short_tmp / "activated.sock")
    # It passes the child a fresh environment: only what -E names gets through.
    activator = run_child(tool, "-l", path, "--fdname=web",
                          f"--setenv=PYTHONPATH={os.pathsep.join(sys.path)}",
                          sys.executable, CHILD, "systemd", stderr=subprocess.DEVNULL)
    try:
        report = json.loads(connect_until_answered(path, socket.AF_UNIX))
        assert report["fds"] == [3]
        assert report["families"] == ["AF_UNIX"]
        assert report["environment"]["LISTEN_FDS"] is None
    finally:
        activator.kill()
        activator.wait()
