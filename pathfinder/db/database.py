"""The database handle: engine, transactions, and the caller's per-user tables.

Every unit of work goes through :meth:`Database.transaction` (shared tables only) or
:meth:`Database.tenant_transaction` (shared tables plus one user's tables). On SQLite the
user's own file is attached to the connection as schema ``tenant`` for that unit of work and
detached after it, so a change to the user's tables and its audit row in the shared file
commit together, atomically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pathfinder.config import DatabaseSettings
from pathfinder.db import request_scope, tenant_names
from pathfinder.db.engine import create_database_engine
from pathfinder.schema.naming import TEMPLATE_USERNAME, normalize_username
from pathfinder.schema.tenant import (
    LATEST_TEMPLATE_VERSION,
    SQLITE_TENANT_SCHEMA,
    TenantTables,
    tenant_tables,
)


class TenantNotProvisioned(LookupError):
    """The user has no tables (yet, or any more)."""


class Database:
    """Engine plus the users' Table objects (one shared set per template version)."""

    def __init__(self, settings: DatabaseSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_database_engine(settings)
        self.dialect_name = self.engine.dialect.name
        tenant_names.install(self.engine)
        # One set of Table objects per template version, named for the template user; each
        # connection puts its own user's name in the SQL (pathfinder.db.tenant_names).
        self._templates = lru_cache(maxsize=None)(self._build_templates)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def tenant_schema(self) -> str | None:
        """Schema the users' Table objects are bound to: ``tenant`` on SQLite, else none."""
        return SQLITE_TENANT_SCHEMA if self.is_sqlite else None

    def _build_templates(self, version: int) -> TenantTables:
        return tenant_tables(TEMPLATE_USERNAME, version, schema=self.tenant_schema)

    def tables_for(self, username: str, version: int = LATEST_TEMPLATE_VERSION) -> TenantTables:
        """Table objects for queries on ``username``'s tables at ``version``.

        They are the shared templates (``tables.username`` is the validated user): use them on
        a connection of :meth:`tenant_transaction` or :meth:`attached`, which name that user's
        tables. For DDL or catalog comparisons, build the real names with ``tenant_tables``.
        """
        user = normalize_username(username)
        return dataclasses.replace(self._templates(version), username=user)

    def tables_cache_info(self) -> object:
        """Hit/miss/size counters of the template cache: its size is the number of versions."""
        return self._templates.cache_info()

    def tenant_file(self, username: str) -> Path:
        """Path of ``username``'s SQLite file (only meaningful on SQLite)."""
        return self.settings.tenant_dir / f"{normalize_username(username)}.db"

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A pooled connection with no transaction begun.

        In a request it is the request's own connection (a unit the auth guard left open is
        committed first), so a request never holds one connection while it waits for
        another: under load that is how a pool runs dry. Whatever the caller leaves
        uncommitted is rolled back at the end of the block, as closing a connection would.
        """
        scope = request_scope.current_scope(self)
        if scope is None or scope.busy:
            with self.engine.connect() as conn:
                yield conn
            return
        with scope.borrowed() as conn:
            yield conn

    @contextmanager
    def transaction(self, *, leave_open: bool = False) -> Iterator[Connection]:
        """One transaction on the shared tables: commit on success, roll back on error.

        In a request it runs on the request's one connection (:mod:`.request_scope`), and
        continues a unit an earlier step left open (the auth guard's). ``leave_open``
        leaves this one for the request's next unit to continue and commit (outside a
        request it commits as usual).
        """
        scope = request_scope.current_scope(self)
        if scope is None or scope.busy:
            with self.engine.begin() as conn:
                yield conn
            return
        # SQLite's BEGIN IMMEDIATE holds the write lock: a unit left open there would make
        # any other connection of the request wait on it, so there it always commits.
        with scope.unit(leave_open=leave_open and not self.is_sqlite) as conn:
            yield conn

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """A connection for a unit of work that is one statement, committed by itself.

        On PostgreSQL and Oracle the statement runs in autocommit: one round trip instead of
        BEGIN, statement and COMMIT, and a single statement is atomic on its own. Used for
        the request audit row, written after the request's own work has committed. On
        SQLite it is an ordinary transaction, so ``BEGIN IMMEDIATE`` keeps writers queued.
        In a request (the audit row at teardown) the request's own connection is given back
        first: the request's work is over, and it must not hold two connections.
        """
        request_scope.release()
        if self.is_sqlite:
            with self.transaction() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.commit()  # the statement committed already; this ends SQLAlchemy's bookkeeping

    @contextmanager
    def tenant_transaction(self, username: str) -> Iterator[tuple[Connection, TenantTables]]:
        """One transaction over the shared tables and ``username``'s tables.

        Raises :class:`TenantNotProvisioned` on SQLite when the user has no file; on other
        back-ends a missing table surfaces as the driver's error at first use.
        """
        tables = self.tables_for(username)
        scope = request_scope.current_scope(self)
        if scope is None or scope.busy:
            with self.engine.connect() as conn:
                with self.attached(conn, tables.username):
                    with conn.begin():
                        yield conn, tables
            return
        if self.is_sqlite:
            scope.settle()  # ATTACH happens outside a transaction
        conn = scope.connection()
        with self.attached(conn, tables.username):
            with scope.unit() as unit_conn:
                yield unit_conn, tables

    @contextmanager
    def attached(self, conn: Connection, username: str, *, create: bool = False) -> Iterator[None]:
        """Bind ``conn`` to ``username``; on SQLite, attach their file as ``tenant`` too.

        Must be called outside a transaction (SQLite refuses ATTACH inside one). With
        ``create`` the file is made when missing (provisioning); otherwise a missing file is
        :class:`TenantNotProvisioned` rather than a new empty file.
        """
        with tenant_names.bound_to(conn, username):
            if not self.is_sqlite:
                yield
                return
            with self._attached_file(conn, username, create=create):
                yield

    @contextmanager
    def _attached_file(self, conn: Connection, username: str, *, create: bool) -> Iterator[None]:
        path = self.tenant_file(username)
        if not create and not path.exists():
            raise TenantNotProvisioned(username)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        if conn.in_transaction():
            raise RuntimeError("attach a tenant file before beginning the transaction")
        raw = conn.connection.driver_connection
        if raw is None:
            raise RuntimeError("the connection has no driver connection to attach to")
        raw.execute("ATTACH DATABASE ? AS tenant", (str(path),))
        try:
            yield
        finally:
            if conn.in_transaction():
                conn.rollback()
            raw.execute("DETACH DATABASE tenant")

    def dispose(self) -> None:
        """Close pooled connections (tests, forked workers)."""
        self.engine.dispose()


def database_url_dialect(url: str) -> str:
    """The back-end name of a SQLAlchemy URL (``sqlite``, ``postgresql``, ``oracle``)."""
    return sa.engine.make_url(url).get_backend_name()
