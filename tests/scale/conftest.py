"""A throwaway PostgreSQL cluster for the scale-out tests, as pytest-postgresql makes one.

`initdb` makes a cluster in a temporary folder and `pg_ctl` runs it on
127.0.0.1 at a free port, with trust authentication and no fsync (the data
is thrown away). PostgreSQL refuses to run as root, so under root the
cluster runs as the unprivileged `postgres` user that the Debian package
creates. Tests that need it skip with one line when PostgreSQL is absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's versioned one, else the PATH's."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(folder, "initdb"), os.X_OK):
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster; `conninfo` reaches its `postgres` database as the superuser."""

    binaries: Path
    folder: Path
    port: int
    user: str | None  # the unprivileged user it runs as, when the tests run as root

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run(str(self.binaries / "pg_ctl"), "start", "-w", "-t", "60",
                  "-D", str(self.folder / "data"), "-l", str(self.folder / "log"),
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")

    def stop(self) -> None:
        self._run(str(self.binaries / "pg_ctl"), "stop", "-w", "-m", "fast",
                  "-D", str(self.folder / "data"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'webpy[postgres]')")
    binaries = _binaries()
    if binaries is None:
        pytest.skip("postgresql not installed (initdb, pg_ctl)")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
    folder = Path(tempfile.mkdtemp(prefix="webpy-postgres-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    cluster = PostgresCluster(binaries, folder, _free_port(), user)
    try:
        cluster._run(str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                     "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)
