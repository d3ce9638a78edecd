"""Template migrations over many users at once, as fast as each database allows.

A template change is one operation per user, so what it costs on top of its DDL is paid
once per user: 1,000 users made a 1.25 s change take 113 s when every user cost a template
build, two lock transactions, an inspector query per table and three pool pings. Here a
batch of users costs:

* **PostgreSQL** (transactional DDL): one transaction for the whole batch. It locks the
  users' rows in username order (one statement), reads their registry rows and asks the
  catalog about every object and column of the batch (one query each), runs the missing
  DDL from the cached plan, and records versions, new objects and audit rows in one
  statement each, then commits. If anything fails, the batch is rolled back and run again
  with a savepoint per user, so the failing user is isolated, its error recorded in the
  same transaction, and every other user of the batch is migrated.
* **SQLite** (a file per user): the users' lock files are taken in username order; each
  user's DDL commits in their own file alone (``BEGIN`` deferred on the driver, so the
  shared file takes no part in that commit), then the registry, the new objects and the
  audit rows of the whole batch commit in the shared file at once. A crash between the two
  leaves users whose tables are ahead of the registry; the next run finds their columns
  and objects in the catalog, runs nothing, and records them.
* **Oracle** (every DDL statement commits): each user is its own run of step-by-step
  units, as provisioning is there, under the user's lock on a connection of its own; the
  catalog is read once per user and each object is registered as soon as it exists. What
  it costs is in ``docs/performance.md`` ("Template migrations").

Every run reads the registry for what to do, so stopping one at any point and starting it
again finishes the work: nothing is remembered outside the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder.provisioning import registry
from pathfinder.provisioning.catalog import (
    existing_columns,
    existing_objects,
    sqlite_columns_query,
    sqlite_objects_query,
)
from pathfinder.provisioning.locks import (
    TenantBusy,
    lock_in_transaction,
    lock_many_in_transaction,
    tenant_lock,
)
from pathfinder.provisioning.plan import Step, cached_migration_steps
from pathfinder.schema.naming import normalize_username
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, SQLITE_TENANT_SCHEMA

StepHook = Callable[[str, Step], None]


@dataclass(frozen=True)
class UserMigration:
    """What a batch did to one user: migrated, already there, or failed (and why)."""

    username: str
    outcome: str  # "migrated" | "up_to_date" | "failed"
    from_version: int | None
    to_version: int | None
    steps_run: int = 0
    error: str | None = None
    # Another worker held the user: nothing was tried and no error was recorded.
    busy: bool = False
    # False when the user was not tried at all (busy, not ready, unknown): its registry row
    # keeps its own last error.
    attempted: bool = True

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


# Called inside the transaction that records a batch's outcome (PostgreSQL: the batch's own
# transaction, with its DDL), so whatever it writes commits with the registry.
OutcomeHook = Callable[[Connection, Sequence[UserMigration]], None]


class _Retry(Exception):
    """The fast attempt at a batch failed; run it again one savepoint per user."""


class BatchMigrator:
    """Brings batches of ready users to a template version on one database."""

    def __init__(
        self,
        db: Any,
        *,
        target: int = LATEST_TEMPLATE_VERSION,
        wait_seconds: float,
        commit_each_step: bool,
        on_step: StepHook | None = None,
        on_outcomes: OutcomeHook | None = None,
    ) -> None:
        self.db = db
        self.target = target
        self.wait_seconds = wait_seconds
        self.commit_each_step = commit_each_step
        self.on_step = on_step
        self.on_outcomes = on_outcomes

    def migrate(self, usernames: Sequence[str]) -> list[UserMigration]:
        """Migrate ``usernames`` (any order; handled in username order); one entry each."""
        names = sorted({normalize_username(name) for name in usernames})
        if not names:
            return []
        if self.commit_each_step or self.db.dialect_name not in ("sqlite", "postgresql"):
            return [self._one_step_by_step(name) for name in names]
        if self.db.is_sqlite:
            return self._sqlite_batch(names)
        try:
            return self._postgres_batch(names, isolate=False)
        except _Retry:
            return self._postgres_batch(names, isolate=True)

    # -- shared pieces -----------------------------------------------------------------

    def _steps(self, user: str, from_version: int) -> list[Step]:
        return cached_migration_steps(
            user,
            from_version,
            self.target,
            schema=self.db.tenant_schema,
            dialect=self.db.engine.dialect,
        )

    def _triage(
        self, names: Sequence[str], records: dict[str, registry.TenantRecord]
    ) -> tuple[list[tuple[str, int]], list[UserMigration]]:
        """(user, from version) pairs to migrate, and the users settled without DDL."""
        todo: list[tuple[str, int]] = []
        settled: list[UserMigration] = []
        for name in names:
            record = records.get(name)
            if record is None:
                settled.append(_skipped(name, None, "no such user in the provisioning registry"))
            elif record.state != "ready" or record.template_version is None:
                message = f"cannot migrate a user in state {record.state!r}"
                settled.append(_skipped(name, record.template_version, message))
            elif record.template_version >= self.target:
                version = record.template_version
                settled.append(UserMigration(name, "up_to_date", version, version))
            else:
                todo.append((name, record.template_version))
        return todo, settled

    def _missing(
        self, conn: Connection, plans: dict[str, list[Step]]
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """What of every plan exists already: objects, and columns (two catalog queries)."""
        objects = [s.object_name for steps in plans.values() for s in steps if s.registers_object]
        columns = [
            s.column_key for steps in plans.values() for s in steps if not s.registers_object
        ]
        schema = self.db.tenant_schema
        present = existing_objects(conn, objects, schema=schema) if objects else set()
        present_columns = existing_columns(conn, columns, schema=schema) if columns else set()
        return present, present_columns

    def _run_missing(
        self,
        cursor: Any,
        conn: Connection,
        user: str,
        steps: list[Step],
        present: set[str],
        present_columns: set[tuple[str, str]],
    ) -> int:
        """Run each step whose object or column is absent, on the driver's cursor."""
        ran = 0
        for step in steps:
            exists = (
                step.object_name in present
                if step.registers_object
                else step.column_key in present_columns
            )
            if exists:
                continue
            self._hook("before", step)
            if step.compiled is not None:
                cursor.execute(step.compiled)
            else:
                step.run(conn)
            ran += 1
            self._hook("after", step)
        return ran

    def _hook(self, when: str, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(when, step)

    def _record(self, conn: Connection, outcomes: Sequence[UserMigration]) -> None:
        """Write a batch's outcome: versions, new objects' rows, errors, the caller's rows."""
        migrated = [o for o in outcomes if o.outcome == "migrated"]
        registry.record_migrated(conn, [o.username for o in migrated], self.target)
        for outcome in outcomes:
            if outcome.failed and outcome.attempted and outcome.error:
                registry.record_error(conn, outcome.username, outcome.error)
        if self.on_outcomes is not None:
            self.on_outcomes(conn, outcomes)

    def _register_new(self, conn: Connection, migrated: Sequence[tuple[str, list[Step]]]) -> None:
        """Registry rows for every object the migrated users' plans create, unless listed."""
        wanted = [(u, s) for u, steps in migrated for s in steps if s.registers_object]
        if not wanted:
            return
        listed = registry.registered_names(conn, [s.object_name for _, s in wanted])
        registry.register_many(
            conn,
            [
                (user, (s.object_name, s.kind, s.template_part, s.version))
                for user, s in wanted
                if s.object_name not in listed
            ],
        )

    # -- PostgreSQL --------------------------------------------------------------------

    def _postgres_batch(self, names: list[str], *, isolate: bool) -> list[UserMigration]:
        """One transaction for the batch; ``isolate``: a savepoint per user (the retry)."""
        with self.db.connect() as conn:
            try:
                with conn.begin():
                    if isolate:
                        outcomes = self._postgres_isolated(conn, names)
                    else:
                        outcomes = self._postgres_together(conn, names)
                    self._record(conn, outcomes)
                    return outcomes
            except _Retry:
                raise
            except Exception as exc:
                if isolate:
                    raise
                raise _Retry() from exc

    def _postgres_together(self, conn: Connection, names: list[str]) -> list[UserMigration]:
        try:
            lock_many_in_transaction(conn, names, wait_seconds=self.wait_seconds)
        except TenantBusy as exc:
            raise _Retry() from exc
        records = registry.get_tenants(conn, names)
        todo, outcomes = self._triage(names, records)
        plans = {user: self._steps(user, version) for user, version in todo}
        present, present_columns = self._missing(conn, plans)
        cursor = conn.connection.cursor()
        try:
            for user, version in todo:
                ran = self._run_missing(cursor, conn, user, plans[user], present, present_columns)
                outcomes.append(UserMigration(user, "migrated", version, self.target, ran))
        finally:
            cursor.close()
        self._register_new(conn, [(user, plans[user]) for user, _ in todo])
        return sorted(outcomes, key=lambda o: o.username)

    def _postgres_isolated(self, conn: Connection, names: list[str]) -> list[UserMigration]:
        """Each user in a savepoint: lock, read, check, DDL; a failure rolls back that user.

        The locks are still taken in username order, one user at a time, and a lock taken
        inside a released savepoint lasts until the batch commits.
        """
        outcomes: list[UserMigration] = []
        migrated: list[tuple[str, list[Step]]] = []
        for user in names:
            savepoint = conn.begin_nested()
            try:
                lock_in_transaction(conn, user, wait_seconds=self.wait_seconds)
                records = registry.get_tenants(conn, [user])
                todo, settled = self._triage([user], records)
                if settled:
                    outcomes += settled
                    savepoint.commit()
                    continue
                _, version = todo[0]
                steps = self._steps(user, version)
                present, present_columns = self._missing(conn, {user: steps})
                cursor = conn.connection.cursor()
                try:
                    ran = self._run_missing(cursor, conn, user, steps, present, present_columns)
                finally:
                    cursor.close()
                savepoint.commit()
            except TenantBusy:
                savepoint.rollback()
                outcomes.append(_busy(user))
                continue
            except Exception as exc:
                savepoint.rollback()
                outcomes.append(_failure(user, _version_of(conn, user), _describe(exc)))
                continue
            outcomes.append(UserMigration(user, "migrated", version, self.target, ran))
            migrated.append((user, steps))
        self._register_new(conn, migrated)
        return outcomes

    # -- SQLite ------------------------------------------------------------------------

    def _sqlite_batch(self, names: list[str]) -> list[UserMigration]:
        outcomes: list[UserMigration] = []
        with ExitStack() as locks:
            locked: list[str] = []
            for user in names:  # username order, as every batch takes them
                try:
                    locks.enter_context(tenant_lock(self.db, user, wait_seconds=self.wait_seconds))
                except TenantBusy:
                    outcomes.append(_busy(user))
                    continue
                locked.append(user)
            with self.db.connect() as conn:
                records = registry.get_tenants(conn, locked)
                conn.rollback()
                todo, settled = self._triage(locked, records)
                outcomes += settled
                migrated: list[tuple[str, list[Step]]] = []
                for user, version in todo:
                    steps = self._steps(user, version)
                    try:
                        ran = self._sqlite_user(conn, user, steps)
                    except Exception as exc:
                        outcomes.append(_failure(user, version, _describe(exc)))
                        continue
                    outcomes.append(UserMigration(user, "migrated", version, self.target, ran))
                    migrated.append((user, steps))
                outcomes.sort(key=lambda o: o.username)
                with conn.begin():
                    self._register_new(conn, migrated)
                    self._record(conn, outcomes)
        return outcomes

    def _sqlite_user(self, conn: Connection, user: str, steps: list[Step]) -> int:
        """One user's DDL in their own file, committed before the registry hears of it."""
        with self.db.attached(conn, user):
            raw = _driver(conn)
            cursor = raw.cursor()
            try:
                # Deferred, on the driver: only the user's file takes a write lock, so its
                # commit is a one-file commit (SQLAlchemy's BEGIN IMMEDIATE would lock the
                # shared file too and make it a two-file one). The catalog is read in it.
                cursor.execute("BEGIN")
                present, present_columns = _sqlite_missing(cursor, conn.dialect, steps)
                ran = self._run_missing(cursor, conn, user, steps, present, present_columns)
                cursor.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()
            return ran

    # -- Oracle (and tests that drive its path) ----------------------------------------

    def _one_step_by_step(self, user: str) -> UserMigration:
        """One user, each DDL statement its own unit, under the user's own lock."""
        try:
            with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
                with self.db.transaction() as conn:
                    records = registry.get_tenants(conn, [user])
                todo, settled = self._triage([user], records)
                if settled:
                    with self.db.transaction() as conn:
                        self._record(conn, settled)
                    return settled[0]
                _, version = todo[0]
                try:
                    ran = self._steps_committed(user, self._steps(user, version))
                except Exception as exc:
                    outcome = _failure(user, version, _describe(exc))
                else:
                    outcome = UserMigration(user, "migrated", version, self.target, ran)
                with self.db.transaction() as conn:
                    self._record(conn, [outcome])
                return outcome
        except TenantBusy:
            return _busy(user)

    def _steps_committed(self, user: str, steps: list[Step]) -> int:
        """Oracle: read the catalog once (the lock keeps it still), then each missing
        statement and each registration commits by itself."""
        with self._work_connection(user) as conn:
            with conn.begin():
                present, present_columns = self._missing(conn, {user: steps})
                objects = [s.object_name for s in steps if s.registers_object]
                listed = registry.registered_names(conn, objects)
            ran = 0
            for step in steps:
                with conn.begin():
                    cursor = conn.connection.cursor()
                    try:
                        ran += self._run_missing(
                            cursor, conn, user, [step], present, present_columns
                        )
                    finally:
                        cursor.close()
                if step.registers_object and step.object_name not in listed:
                    with conn.begin():
                        registry.register_objects(
                            conn,
                            user,
                            [(step.object_name, step.kind, step.template_part, step.version)],
                        )
            return ran

    @contextmanager
    def _work_connection(self, user: str) -> Iterator[Connection]:
        with self.db.connect() as conn, self.db.attached(conn, user):
            yield conn


def _sqlite_missing(
    cursor: Any, dialect: Any, steps: list[Step]
) -> tuple[set[str], set[tuple[str, str]]]:
    """What of one user's plan is in their attached file: the catalog queries of
    :mod:`.catalog`, run on the driver's cursor inside its transaction."""
    objects = [s.object_name for s in steps if s.registers_object]
    columns = [s.column_key for s in steps if not s.registers_object]
    present: set[str] = set()
    present_columns: set[tuple[str, str]] = set()
    if objects:
        rows = _run_on_cursor(cursor, dialect, sqlite_objects_query(objects, SQLITE_TENANT_SCHEMA))
        present = {name for (name,) in rows}
    if columns:
        query = sqlite_columns_query(
            sorted({t for t, _ in columns}), sorted({c for _, c in columns}), SQLITE_TENANT_SCHEMA
        )
        wanted = set(columns)
        present_columns = {(t, c) for t, c in _run_on_cursor(cursor, dialect, query)} & wanted
    return present, present_columns


def _run_on_cursor(cursor: Any, dialect: Any, query: Any) -> list[tuple[Any, ...]]:
    """A Core statement compiled for ``dialect`` and run on a DBAPI cursor (qmark style)."""
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    cursor.execute(str(compiled), [params[name] for name in compiled.positiontup or ()])
    return [tuple(row) for row in cursor.fetchall()]


def _failure(user: str, version: int | None, error: str) -> UserMigration:
    return UserMigration(user, "failed", version, None, 0, error)


def _skipped(user: str, version: int | None, error: str) -> UserMigration:
    return UserMigration(user, "failed", version, None, 0, error, attempted=False)


def _busy(user: str) -> UserMigration:
    return UserMigration(
        user, "failed", None, None, 0, "busy: another worker holds it", busy=True, attempted=False
    )


def _version_of(conn: Connection, user: str) -> int | None:
    record = registry.get_tenants(conn, [user]).get(user)
    return record.template_version if record else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[: registry.LAST_ERROR_MAX]


def _driver(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection has no driver connection")
    return raw  # type: ignore[no-any-return]
