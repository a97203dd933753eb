"""Listening sockets from wherever a deployment provides them.

A server usually binds its own TCP port. In production the socket may come
from elsewhere: a unix domain socket that nginx connects to, a file
descriptor inherited from a supervisor (`--fd N`), or the sockets systemd
opened before starting the service (socket activation). Each function here
returns ready, listening, blocking `socket.socket` objects; a transport
serves them as it would its own.

What each must never do:

- remove a unix socket file that a live server is listening on, or any file
  that is not a socket: a stale socket is removed only after a connection
  to it is refused;
- call ``listen()`` again on an inherited socket that is already listening:
  the supervisor chose its backlog, and queued connections must stay queued;
- take systemd's sockets when `LISTEN_PID` names another process: the
  variables were meant for a parent, and are passed down by mistake.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
from collections.abc import Collection, MutableMapping

#: The first file descriptor systemd passes (SD_LISTEN_FDS_START).
SYSTEMD_FIRST_FD = 3
DEFAULT_BACKLOG = 1024
#: Whether the kernel spreads new connections over the sockets that share a
#: port with `SO_REUSEPORT` (Linux does; elsewhere the option only lets them bind).
REUSE_PORT_BALANCES = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def tcp(host: str, port: int, *, backlog: int = DEFAULT_BACKLOG,
        reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on `host`:`port` (IPv4 or IPv6, by the address).

    With `reuse_port`, `SO_REUSEPORT` lets several processes bind the same
    port, each with its own accept queue that the kernel balances: one
    listener per worker process. Raises `OSError` where the platform lacks it.
    """
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise OSError(errno.ENOPROTOOPT, "SO_REUSEPORT is not available on this platform")
    return socket.create_server((host, port), family=family, backlog=backlog,
                                reuse_port=reuse_port)


def tcp_group(host: str, port: int, count: int, *,
              backlog: int = DEFAULT_BACKLOG) -> list[socket.socket]:
    """`count` sockets listening on one port, one per worker process.

    Where `REUSE_PORT_BALANCES`, they share the port with `SO_REUSEPORT`:
    each has its own accept queue and the kernel spreads new connections
    over them, so each worker accepts from its own socket and none takes
    more than its share. Port 0 picks a free port for all of them.
    Elsewhere, or for one socket, the list holds a single ordinary socket.
    """
    if count <= 1 or not REUSE_PORT_BALANCES:
        return [tcp(host, port, backlog=backlog)]
    first = tcp(host, port, backlog=backlog, reuse_port=True)
    group = [first]
    try:
        for _ in range(count - 1):
            group.append(tcp(host, first.getsockname()[1], backlog=backlog, reuse_port=True))
    except BaseException:
        for sock in group:
            sock.close()
        raise
    return group


def unix(path: str, *, mode: int | None = None,
         backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """A unix domain socket listening at `path`, its file given `mode` (e.g. 0o660).

    A socket file left at `path` by a server that is gone is removed first;
    if a server still listens there, or `path` is not a socket, `OSError`
    (``EADDRINUSE`` or ``EEXIST``) is raised and nothing is removed. The mode
    is set before ``listen()``, so no client can connect while the file has
    the umask's permissions.
    """
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def inherited(fd: int, *, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """The stream socket at file descriptor `fd`, passed in by a parent process.

    It is listened on only if it is not listening yet. Raises `OSError` if
    `fd` is not open, not a socket, or not a stream socket.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as error:
        raise OSError(error.errno, f"file descriptor {fd} is not a socket: "
                      f"{error.strerror}") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise OSError(errno.ESOCKTNOSUPPORT, f"file descriptor {fd} is not a stream socket")
    sock.set_inheritable(False)
    sock.setblocking(True)
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.listen(backlog)
    return sock


def systemd(environ: MutableMapping[str, str] | None = None, *,
            backlog: int = DEFAULT_BACKLOG) -> list[socket.socket]:
    """The sockets systemd passed by socket activation; [] when there are none.

    systemd sets `LISTEN_PID` to the service's process id and `LISTEN_FDS`
    to the number of descriptors, which start at 3. The variables (and
    `LISTEN_FDNAMES`) are removed from `environ` once read, as
    `sd_listen_fds(1)` does, so that child processes do not take the sockets
    for their own. Variables meant for another process are left alone.
    """
    if environ is None:
        environ = os.environ
    pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    if pid is None or count is None:
        return []
    if not (pid.isdigit() and int(pid) == os.getpid()):
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if not count.isdigit():
        raise ValueError(f"LISTEN_FDS is not a number: {count!r}")
    return [inherited(fd, backlog=backlog)
            for fd in range(SYSTEMD_FIRST_FD, SYSTEMD_FIRST_FD + int(count))]


def proxied(sockets: list[socket.socket],
            proxy_protocol: bool | Collection[socket.socket]) -> frozenset[int]:
    """The descriptors of the `sockets` whose connections start with a PROXY header:
    all or none of them (`proxy_protocol` True or False), or the ones it names."""
    if isinstance(proxy_protocol, bool):
        return frozenset(sock.fileno() for sock in sockets) if proxy_protocol else frozenset()
    chosen = frozenset(sock.fileno() for sock in proxy_protocol)
    if not chosen <= {sock.fileno() for sock in sockets}:
        raise ValueError("proxy_protocol names a socket the server does not listen on")
    return chosen


def _remove_stale_socket(path: str) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(status.st_mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket; not removing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)  # a listener with a full queue answers EAGAIN, not a wait
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nothing listens: a server that is gone left it behind
        return
    except FileNotFoundError:
        return  # removed meanwhile
    except BlockingIOError:
        pass  # listening, its queue full
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"a server is already listening on {path}")
