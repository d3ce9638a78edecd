"""Named locks shared by every worker and node: a row held ``FOR UPDATE``, or a file lock.

PostgreSQL and Oracle: a row of ``pf_named_locks`` locked by a connection and transaction of
their own, so the holder's own work (on other connections) is never blocked by it, and a
process that dies releases it with its session. SQLite: an exclusive ``flock`` on
``<instance>/locks/<key>.lock`` (SQLite has no row locks, and its database lock would block
the holder's own writes); the kernel releases it when the process dies.

A key is at most 64 characters of ``[a-z0-9_-]`` (callers hash what they lock).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from pathfinder.db.database import Database
from pathfinder.schema.shared.system import named_locks

_KEY = re.compile(r"[a-z0-9_-]{1,64}")


class LockBusy(TimeoutError):
    """Another holder kept the lock longer than the caller was willing to wait."""


@contextmanager
def named_lock(db: Database, key: str, *, wait_seconds: float) -> Iterator[None]:
    """Hold the lock ``key`` for the body of the ``with`` (waits at most ``wait_seconds``)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"lock key {key!r} is not 1-64 characters of [a-z0-9_-]")
    if db.is_sqlite:
        with _file_lock(db, key, wait_seconds):
            yield
    else:
        with _row_lock(db, key, wait_seconds):
            yield


@contextmanager
def _row_lock(db: Database, key: str, wait_seconds: float) -> Iterator[None]:
    _ensure_row(db, key)
    query = sa.select(named_locks.c.lock_key).where(named_locks.c.lock_key == key)
    deadline = time.monotonic() + wait_seconds
    delay = 0.01
    with db.engine.connect() as conn:
        while True:
            # NOWAIT retried until the deadline: the same on PostgreSQL and Oracle, where
            # SQLAlchemy renders no WAIT n and a plain FOR UPDATE would wait for ever.
            transaction = conn.begin()
            try:
                conn.execute(query.with_for_update(nowait=True)).one()
                break
            except sa.exc.DatabaseError as exc:
                transaction.rollback()
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    if _is_busy(exc):
                        raise LockBusy(key) from exc
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            transaction.rollback()


def _is_busy(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc).lower()
    return "could not obtain lock" in text or "ora-00054" in text


def _ensure_row(db: Database, key: str) -> None:
    with db.engine.connect() as conn:
        with conn.begin():
            if conn.execute(
                sa.select(named_locks.c.lock_key).where(named_locks.c.lock_key == key)
            ).first():
                return
        try:
            with conn.begin():
                conn.execute(named_locks.insert().values(lock_key=key))
        except sa.exc.IntegrityError:
            pass  # a concurrent caller inserted it first: that is all we needed


@contextmanager
def _file_lock(db: Database, key: str, wait_seconds: float) -> Iterator[None]:
    path = db.settings.instance_path / "locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockBusy(key)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)
