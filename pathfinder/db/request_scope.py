"""One pooled connection per request, and one transaction for a read request.

A request used to check out a connection and commit a transaction for the auth guard's
session check, then another pair for its data: for ``GET /me/experiences?limit=50`` the
guard was a quarter of the time. Now the first unit of work of a request checks out a
connection and keeps it until the request ends; every later unit of work in the request
uses it too. The guard's unit is left open (``leave_open``), and the request's next unit
continues the same transaction and commits it: the session check, the data and any audit
row commit (or roll back) together, as ``docs/architecture.md`` lays the path out.

Rules that keep it safe:

* Only a unit that asks for it stays open, and only until the next unit or the end of the
  request, whichever comes first. At the end of the request an open unit is committed (it
  holds the guard's work: the session's activity stamp) and the connection goes back to
  the pool, so no transaction outlives its request.
* A unit begun while another is running on the request's connection (a nested ``with
  db.transaction()``) gets a connection of its own, as before: nothing joins a transaction
  that is in use.
* On SQLite a user's file is attached outside any transaction, so a unit on the user's
  tables first commits an open guard unit: one connection, two transactions there. Reads
  on SQLite stay cheap that way (a read-only commit of the shared file writes nothing).
* Outside a request (CLI, jobs, benchmarks) nothing changes: each unit has its own
  connection and transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from pathfinder.db.database import Database

_KEY = "_pf_request_scope"
_CLOSED = "_pf_request_scope_closed"


class RequestScope:
    """The request's connection and whether a unit of work is running on it or left open."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: Connection | None = None
        self.busy = False
        self.left_open = False

    def connection(self) -> Connection:
        if self.conn is None:
            self.conn = self.db.engine.connect()
        return self.conn

    @contextmanager
    def unit(self, *, leave_open: bool = False) -> Iterator[Connection]:
        """A unit of work on the request's connection: joins a unit left open, else begins.

        Commits at the end unless ``leave_open`` (then the next unit, or the end of the
        request, commits it); rolls back on an error, a left-open unit's work included.
        """
        conn = self.connection()
        self.busy = True
        if not conn.in_transaction():
            conn.begin()
        self.left_open = False
        try:
            yield conn
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            raise
        else:
            if leave_open:
                self.left_open = True
            elif conn.in_transaction():
                conn.commit()
        finally:
            self.busy = False

    @contextmanager
    def borrowed(self) -> Iterator[Connection]:
        """The connection itself, no transaction begun (``Database.connect`` in a request);
        what the borrower leaves uncommitted is rolled back when it gives it back."""
        self.settle()
        conn = self.connection()
        self.busy = True
        try:
            yield conn
        finally:
            self.busy = False
            if conn.in_transaction():
                conn.rollback()

    def settle(self) -> None:
        """Commit a unit left open (before attaching a SQLite file, or at the end)."""
        if self.left_open and self.conn is not None and self.conn.in_transaction():
            self.conn.commit()
        self.left_open = False

    def close(self) -> None:
        """End of the request: commit what was left open, give the connection back."""
        if self.conn is None:
            return
        try:
            if self.busy and self.conn.in_transaction():
                self.conn.rollback()
            else:
                self.settle()
        finally:
            self.conn.close()
            self.conn = None


def current_scope(db: Database) -> RequestScope | None:
    """The request's scope for ``db``, made on first use; None outside a request."""
    if not has_request_context() or g.get(_CLOSED):
        return None  # after the request's connection went back (later teardown hooks)
    scope: RequestScope | None = g.get(_KEY)
    if scope is None:
        scope = RequestScope(db)
        setattr(g, _KEY, scope)
    elif scope.db is not db:
        return None  # another Database (a second app's, a test's): not this request's
    return scope


def release() -> None:
    """End the request's use of its connection now (its work is over) and give it back.

    Called at teardown, and by work that runs after the request's own (the request audit
    row) before it takes a connection: a request never holds two.
    """
    if not has_request_context():
        return
    setattr(g, _CLOSED, True)
    scope: RequestScope | None = g.pop(_KEY, None)
    if scope is not None:
        scope.close()


def init_app(app: Flask) -> None:
    """Give every request's connection back to the pool when the request ends."""

    @app.teardown_request
    def _release_request_connection(_exc: BaseException | None) -> None:
        release()
