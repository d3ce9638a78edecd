"""A throw-away PostgreSQL cluster for benchmarks: temp dir, loopback, free port, no fsync.

Why not reuse a running server: a benchmark must not depend on (or disturb) a cluster the
machine happens to have, and durability settings change DDL timings, so the cluster is made
here with the settings of ``shared/research/db-strategy.md`` §5 and removed at exit, however
the run ends (``try/finally`` in the caller plus an ``atexit`` hook here).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Per-user provisioning runs in one transaction of ~22 objects; a raw pre-population batch may
# hold several users' locks at once, so the default lock table (64 per transaction) is raised.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_locks_per_transaction": "1024",
    "max_connections": "100",
    "shared_buffers": "512MB",
    "checkpoint_timeout": "30min",
    "max_wal_size": "8GB",
    "autovacuum": "on",
}


def pg_bin_dir() -> Path:
    """Newest Debian PostgreSQL binary folder (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql), or pass --pg-url"
        )
    return Path(found[-1])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TempCluster:
    """A running cluster; :meth:`stop` stops it and deletes its directory (idempotent)."""

    root: Path
    port: int
    bin_dir: Path
    as_pg: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) of ``database`` on this cluster, user ``pf``."""
        return f"postgresql+psycopg://pf@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """libpq DSN for raw psycopg connections."""
        return f"host=127.0.0.1 port={self.port} user=pf dbname={database}"

    def version(self) -> str:
        out = subprocess.run(
            [str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True
        )
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "pf"]
            + [name],
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        subprocess.run(
            [*self.as_pg, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir)]
            + ["-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> TempCluster:
    """initdb + start a cluster in a new temp dir; registered for removal at exit.

    initdb refuses to run as root, so as root the commands run as the ``postgres`` system
    user through ``runuser`` and the directory is handed to that user first.
    """
    bin_dir = pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="pathfinder-bench-pg."))
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    cluster = TempCluster(root=root, port=free_port(), bin_dir=bin_dir, as_pg=as_pg)
    atexit.register(cluster.stop)
    try:
        subprocess.run(
            [*as_pg, str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", "pf"]
            + ["--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
        options += f" -p {cluster.port} -c unix_socket_directories={root}"
        subprocess.run(
            [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(cluster.data_dir)]
            + ["-l", str(root / "server.log"), "-w", "-t", "60", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster
