"""One worker at a time per user: the lock every provision, migrate and deprovision takes.

PostgreSQL and Oracle: a row of ``pf_tenant_locks`` held ``FOR UPDATE`` by a connection of
its own. The lock must not live on the connection that runs DDL, because Oracle commits on
every DDL statement and would release it. If the process dies, its session ends and the
database releases the lock at once, so a re-run resumes without waiting for a lease.
PostgreSQL's provisioning, all in one transaction, locks the same row in that transaction
instead (:func:`lock_in_transaction`).

SQLite: an exclusive ``flock`` on ``tenants/<username>.lock``, released by the kernel when the
process dies. (SQLite has no row locks, and holding its database lock would block the very
connection that does the work.)
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pathfinder.db.database import Database
from pathfinder.schema.shared.system import tenant_locks


class TenantBusy(TimeoutError):
    """Another worker kept the user's lock longer than we were willing to wait."""


@contextmanager
def tenant_lock(db: Database, username: str, *, wait_seconds: float) -> Iterator[None]:
    """Hold ``username``'s provisioning lock for the body of the ``with``."""
    if db.is_sqlite:
        with _file_lock(db, username, wait_seconds):
            yield
    else:
        with _row_lock(db, username, wait_seconds):
            yield


def lock_in_transaction(conn: sa.Connection, username: str, *, wait_seconds: float) -> None:
    """PostgreSQL: hold ``username``'s lock row until ``conn``'s transaction ends.

    For work whose every statement is in one transaction (provisioning: DDL is
    transactional on PostgreSQL), the lock costs two statements on the same connection
    instead of a connection and transaction of its own. It is the same row
    :func:`tenant_lock` holds, so it excludes migrate and deprovision too. ``INSERT ... ON
    CONFLICT DO UPDATE`` locks the row whether it inserts or finds it. A holder elsewhere
    makes it wait at most ``wait_seconds`` (``lock_timeout``, which stays set for the rest
    of this transaction), then raise :class:`TenantBusy`.
    """
    if conn.dialect.name != "postgresql":
        raise ValueError(f"no in-transaction lock on {conn.dialect.name!r}")
    conn.execute(sa.select(sa.func.set_config("lock_timeout", f"{int(wait_seconds * 1000)}", True)))
    insert = postgresql.insert(tenant_locks).values(username=username)
    try:
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[tenant_locks.c.username],
                set_={"username": insert.excluded.username},
            )
        )
    except sa.exc.OperationalError as exc:
        if "lock timeout" in str(exc).lower():
            raise TenantBusy(username) from exc
        raise


def lock_many_in_transaction(
    conn: sa.Connection, usernames: Sequence[str], *, wait_seconds: float
) -> None:
    """PostgreSQL: hold several users' lock rows until ``conn``'s transaction ends.

    One statement for the whole batch, taking the rows in username order: every batch
    takes its locks in that same order, so two batches that share users (two ``migrate``
    runs at once) queue behind each other instead of deadlocking. Each row is the one
    :func:`lock_in_transaction` and :func:`tenant_lock` take, so a batch also excludes
    provisioning and deprovisioning of its users. A holder elsewhere makes it wait at most
    ``wait_seconds``, then raise :class:`TenantBusy` (naming the first user of the batch:
    the statement does not say which row it waited for).
    """
    if conn.dialect.name != "postgresql":
        raise ValueError(f"no in-transaction lock on {conn.dialect.name!r}")
    names = sorted(set(usernames))
    if not names:
        return
    conn.execute(sa.select(sa.func.set_config("lock_timeout", f"{int(wait_seconds * 1000)}", True)))
    insert = postgresql.insert(tenant_locks).values([{"username": name} for name in names])
    try:
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=[tenant_locks.c.username],
                set_={"username": insert.excluded.username},
            )
        )
    except sa.exc.OperationalError as exc:
        if "lock timeout" in str(exc).lower():
            raise TenantBusy(names[0]) from exc
        raise


@contextmanager
def _row_lock(db: Database, username: str, wait_seconds: float) -> Iterator[None]:
    if db.dialect_name != "postgresql":
        _ensure_lock_row(db, username)
    with db.engine.connect() as conn:
        with conn.begin():
            if db.dialect_name == "postgresql":
                conn.execute(
                    sa.select(
                        sa.func.set_config("lock_timeout", f"{int(wait_seconds * 1000)}", True)
                    )
                )
                # One round trip instead of SELECT + INSERT in transactions of their own; a
                # concurrent insert of the same row waits for ours, then does nothing.
                conn.execute(
                    postgresql.insert(tenant_locks)
                    .values(username=username)
                    .on_conflict_do_nothing(index_elements=[tenant_locks.c.username])
                )
            query = sa.select(tenant_locks.c.username).where(tenant_locks.c.username == username)
            if db.dialect_name == "oracle":
                _poll_for_update(conn, query, username, wait_seconds)
            else:
                try:
                    conn.execute(query.with_for_update()).one()
                except sa.exc.OperationalError as exc:
                    if "lock timeout" in str(exc).lower():
                        raise TenantBusy(username) from exc
                    raise
            yield


def _poll_for_update(
    conn: sa.Connection, query: sa.Select[tuple[str]], username: str, wait_seconds: float
) -> None:
    """Oracle: ``FOR UPDATE NOWAIT`` retried until the deadline (ORA-00054 while busy).

    SQLAlchemy renders no ``WAIT n`` clause, and a plain ``FOR UPDATE`` would wait forever.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            conn.execute(query.with_for_update(nowait=True)).one()
            return
        except sa.exc.DatabaseError as exc:
            if "ORA-00054" not in str(exc) or time.monotonic() >= deadline:
                if "ORA-00054" in str(exc):
                    raise TenantBusy(username) from exc
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _ensure_lock_row(db: Database, username: str) -> None:
    with db.engine.connect() as conn:
        with conn.begin():
            exists = conn.execute(
                sa.select(tenant_locks.c.username).where(tenant_locks.c.username == username)
            ).first()
            if exists:
                return
        try:
            with conn.begin():
                conn.execute(tenant_locks.insert().values(username=username))
        except sa.exc.IntegrityError:
            pass  # a concurrent caller inserted it first: that is all we needed


@contextmanager
def _file_lock(db: Database, username: str, wait_seconds: float) -> Iterator[None]:
    path = db.settings.tenant_dir / f"{username}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _flock_until(fd, deadline, username)
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have removed the file after we opened it: lock the file
        # that is at the path now, or we would hold a lock nobody else can see.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def _flock_until(fd: int, deadline: float, username: str) -> None:
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            raise TenantBusy(username)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def remove_lock_file(db: Database, username: str) -> None:
    """Delete a user's SQLite lock file (while holding it, after deprovisioning)."""
    if db.is_sqlite:
        (db.settings.tenant_dir / f"{username}.lock").unlink(missing_ok=True)
