"""A child process that takes its listening sockets the way a server does.

Usage: ``listener_child.py fd N`` or ``listener_child.py systemd``. It prints
one JSON line (its pid, the sockets it took, the systemd variables left in
its environment), then answers one connection on each socket with the same
line and exits. The parent checks what a user of ``--fd`` or socket
activation would notice: the connection reaches the child.
"""

from __future__ import annotations

import json
import os
import sys

from webpy.transports import listeners


def main() -> None:
    if sys.argv[1] == "fd":
        sockets = [listeners.inherited(int(sys.argv[2]))]
    else:
        sockets = listeners.systemd()
    report = json.dumps({
        "pid": os.getpid(),
        "fds": [sock.fileno() for sock in sockets],
        "families": [sock.family.name for sock in sockets],
        "environment": {name: os.environ.get(name)
                        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")},
    }).encode() + b"\n"
    sys.stdout.buffer.write(report)
    sys.stdout.flush()
    for sock in sockets:
        connection, _ = sock.accept()
        with connection:
            connection.sendall(report)


if __name__ == "__main__":
    main()
