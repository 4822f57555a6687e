"""A throw-away PostgreSQL cluster for tests and benchmarks.

The server binaries come from the distribution's package (``initdb`` on PATH or under
/usr/lib/postgresql/*/bin; CI installs the ``postgresql`` package). PostgreSQL refuses to
run as root, so as root the cluster runs as the ``postgres`` user (made by the package).
The cluster listens only on a Unix socket in its own temporary folder and is removed when
stopped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


class NoPostgresError(RuntimeError):
    """The machine has no PostgreSQL server binaries."""


def pg_bin() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``.

    Raises:
        NoPostgresError: None found (install the distribution's ``postgresql`` package).
    """
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise NoPostgresError(
            "no PostgreSQL server binaries (initdb); install the 'postgresql' package"
        )
    return Path(candidates[0]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A running cluster; :meth:`url` names a database on it."""

    def __init__(self, socket_dir: Path, port: int) -> None:
        self.socket_dir = socket_dir
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(
            self.url().replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return self.url(name)


@contextmanager
def cluster(max_connections: int = 100) -> Iterator[Cluster]:
    """Start a cluster, yield it, stop and remove it."""
    bin_dir = pg_bin()
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="roadmark-pg-"))
    base.chmod(0o755)
    data = base / "data"
    if as_user:
        shutil.chown(base, "postgres")
    port = _free_port()

    def pg(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust")
        options = (
            f"-k {base} -p {port} -c listen_addresses='' -c max_connections={max_connections}"
        )
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
           str(base / "log"), "start")  # fmt: skip
        try:
            yield Cluster(base, port)
        finally:
            pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
