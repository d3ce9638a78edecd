"""The provisioning engine: provision, deprovision and migrate users' tables.

Every operation on a user runs under that user's lock (:mod:`.locks`) and as a list of
idempotent steps (:mod:`.plan`). A step creates its object unless the catalog already has it
and registers it in ``pf_tenant_objects`` unless already registered; on PostgreSQL both
happen in one transaction, on Oracle (where DDL commits) the registration follows. On SQLite
a brand-new user file commits first and its registration after it, in the shared file;
an existing file commits with its registration in one transaction. So a crash between any
two statements or commits leaves a state the next run completes, the registry never lists
an object that does not exist, and deprovisioning drops exactly what the registry lists.

Provisioning a new user costs one transaction on PostgreSQL (lock row, registry read, DDL,
registry rows) and two commits on SQLite: see ``docs/performance.md``, "Provisioning".
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.metrics.instruments import TENANT_MIGRATIONS, TENANT_PROVISIONS, counted
from pathfinder.provisioning import registry
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.provisioning.locks import (
    TenantBusy,
    lock_in_transaction,
    remove_lock_file,
    tenant_lock,
)
from pathfinder.provisioning.migrate import BatchMigrator, OutcomeHook
from pathfinder.provisioning.plan import (
    Step,
    cached_migration_steps,
    cached_provision_steps,
    drop_statement,
    provision_steps,
)
from pathfinder.schema.naming import normalize_username
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

# Called with ("before" | "after", step) around each statement. Production passes None;
# tests pass a hook that fails or kills the process at a chosen step.
StepHook = Callable[[str, Step], None]
Outcome = Literal["created", "already_ready", "migrated", "up_to_date", "dropped", "absent"]


class _AlreadyReady(Exception):
    """Raised inside the claim when another worker finished the user first."""

    def __init__(self, template_version: int | None) -> None:
        super().__init__("already ready")
        self.template_version = template_version


class ProvisioningError(RuntimeError):
    """A provisioning operation failed; the registry row says where, and a re-run resumes."""

    def __init__(self, username: str, message: str) -> None:
        super().__init__(f"{username}: {message}")
        self.username = username


@dataclass(frozen=True)
class Result:
    username: str
    outcome: Outcome
    template_version: int | None
    steps_run: int


class Provisioner:
    """Creates, upgrades and drops users' tables on one database."""

    def __init__(
        self,
        db: Database,
        *,
        wait_seconds: float | None = None,
        on_step: StepHook | None = None,
        commit_each_step: bool | None = None,
    ) -> None:
        self.db = db
        # Oracle commits every DDL statement, so its steps are separate units of work; the
        # option exists so tests can drive that path on SQLite and PostgreSQL too.
        self.commit_each_step = (
            db.dialect_name == "oracle" if commit_each_step is None else commit_each_step
        )
        self.wait_seconds = (
            db.settings.provisioning_wait_seconds if wait_seconds is None else wait_seconds
        )
        self.on_step = on_step

    # -- public operations -------------------------------------------------------------

    @counted(TENANT_PROVISIONS)
    def provision(self, username: str, *, version: int = LATEST_TEMPLATE_VERSION) -> Result:
        """Create ``username``'s tables at ``version`` (default latest); safe to repeat.

        A second caller for the same user waits for the first and then finds it ready. An
        older ``version`` is for staging upgrades and for tests of ``migrate``.
        """
        user = normalize_username(username)
        steps = cached_provision_steps(
            user, version, schema=self.db.tenant_schema, dialect=self.db.engine.dialect
        )
        try:
            if self.commit_each_step or self.db.dialect_name not in ("sqlite", "postgresql"):
                with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
                    ran = self._provision_step_by_step(user, steps, version)
            elif self.db.is_sqlite:
                with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
                    ran = self._provision_sqlite(user, steps, version)
            else:
                ran = self._provision_in_one_transaction(user, steps, version)
        except _AlreadyReady as done:
            return Result(user, "already_ready", done.template_version, 0)
        return Result(user, "created", version, ran)

    def deprovision(self, username: str) -> Result:
        """Drop exactly the objects registered for ``username``; safe to repeat."""
        user = normalize_username(username)
        with self.db.transaction() as conn:
            record = registry.get_tenant(conn, user)
        if record is None or record.state == "dropped":
            return Result(user, "absent", None, 0)
        with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
            with self.db.transaction() as conn:
                registry.set_state(conn, user, "deprovisioning", count_attempt=True)
            ran = self._drop_registered(user)
            if self.db.is_sqlite:
                self.db.tenant_file(user).unlink(missing_ok=True)
            with self.db.transaction() as conn:
                registry.set_state(conn, user, "dropped", template_version=None)
            remove_lock_file(self.db, user)
            return Result(user, "dropped", None, ran)

    @counted(TENANT_MIGRATIONS)
    def migrate_user(self, username: str, *, target: int = LATEST_TEMPLATE_VERSION) -> Result:
        """Bring one ready user to ``target``; a user already there costs one query.

        Raises :class:`ProvisioningError` when the migration fails (recorded in the
        registry) and :class:`TenantBusy` when another worker holds the user.
        """
        (outcome,) = self.migrator(target=target).migrate([username])
        if outcome.busy:
            raise TenantBusy(outcome.username)
        if outcome.failed:
            raise ProvisioningError(outcome.username, outcome.error or "migration failed")
        kind: Outcome = "migrated" if outcome.outcome == "migrated" else "up_to_date"
        return Result(outcome.username, kind, outcome.to_version, outcome.steps_run)

    def migrator(
        self, *, target: int = LATEST_TEMPLATE_VERSION, on_outcomes: OutcomeHook | None = None
    ) -> BatchMigrator:
        """A :class:`BatchMigrator` with this engine's settings (lock wait, step hook)."""
        return BatchMigrator(
            self.db,
            target=target,
            wait_seconds=self.wait_seconds,
            commit_each_step=self.commit_each_step,
            on_step=self.on_step,
            on_outcomes=on_outcomes,
        )

    def pending_migrations(
        self, *, target: int = LATEST_TEMPLATE_VERSION, batch_size: int = 500
    ) -> Iterator[registry.TenantRecord]:
        """Ready users below ``target``, read from the registry in keyset-paged batches."""
        after: str | None = None
        while True:
            with self.db.transaction() as conn:
                batch = registry.list_tenants(
                    conn, states=["ready"], below_version=target, after=after, limit=batch_size
                )
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].username

    def count_pending_migrations(self, *, target: int = LATEST_TEMPLATE_VERSION) -> int:
        from pathfinder.schema.shared.system import tenant_provisioning as tp

        with self.db.transaction() as conn:
            query = sa.select(sa.func.count()).where(
                tp.c.state == "ready", tp.c.template_version < target
            )
            return int(conn.execute(query).scalar_one())

    def dry_run_sql(self, username: str, *, target: int = LATEST_TEMPLATE_VERSION) -> list[str]:
        """The statements ``migrate_user`` would run now, compiled for this database."""
        user = normalize_username(username)
        record = self._record(user)
        if record.template_version is None or record.template_version >= target:
            return []
        steps = cached_migration_steps(
            user,
            record.template_version,
            target,
            schema=self.db.tenant_schema,
            dialect=self.db.engine.dialect,
        )
        return [step.sql(self.db.engine.dialect) for step in steps]

    # -- internals ---------------------------------------------------------------------

    def _claim(self, conn: Connection, user: str) -> registry.TenantRecord | None:
        """The user's registry row, read under the lock; stops if there is nothing to do."""
        record = registry.get_tenant(conn, user)
        if record is not None and record.state == "ready":
            raise _AlreadyReady(record.template_version)
        if record is not None and record.state == "deprovisioning":
            raise ProvisioningError(
                user, "a deprovisioning is unfinished; run deprovision again to finish it"
            )
        return record

    def _provision_step_by_step(self, user: str, steps: list[Step], version: int) -> int:
        """Oracle, where DDL commits: claim, each step, then ``ready``, each a unit of work."""

        def claim(conn: Connection) -> None:
            self._claim(conn, user)
            registry.ensure_tenant_row(conn, user)
            registry.set_state(conn, user, "creating", count_attempt=True)

        def finish(conn: Connection) -> None:
            registry.set_state(conn, user, "ready", template_version=version)

        return self._run_steps(user, steps, start=claim, finish=finish)

    def _provision_in_one_transaction(self, user: str, steps: list[Step], version: int) -> int:
        """PostgreSQL: lock, registry read, DDL, registry rows and ``ready`` in one transaction.

        The lock is the user's ``pf_tenant_locks`` row (the one migrate and deprovision hold
        on a connection of their own), taken by this transaction, so it lasts until the
        commit makes the tables and the registry visible together. A user with no registry
        row has no objects: every path that creates objects commits the row before them or
        with them, so for a brand-new user neither the catalog nor the object rows are read.
        (Tables made behind the registry's back make the DDL fail; the failure creates the
        row, and the re-run then adopts them from the catalog.)
        """
        try:
            with self.db.connect() as conn, conn.begin():
                lock_in_transaction(conn, user, wait_seconds=self.wait_seconds)
                record = self._claim(conn, user)
                new_user = record is None
                ran, pending = self._create_missing(
                    conn, user, steps, catalog_empty=new_user, nothing_registered=new_user
                )
                registry.record_ready(conn, user, version, new_row=new_user)
                registry.register_objects(conn, user, pending)
                return ran
        except (_AlreadyReady, ProvisioningError, TenantBusy):
            raise
        except Exception as exc:
            self._record_failure(user, exc, "failed", count_attempt=True, take_lock=True)
            raise ProvisioningError(user, _describe(exc)) from exc

    def _provision_sqlite(self, user: str, steps: list[Step], version: int) -> int:
        """SQLite, under the user's file lock (held by the caller)."""
        try:
            return self._provision_sqlite_attempt(user, steps, version, may_discard=True)
        except _DamagedTenantFile:
            _discard_tenant_file(self.db.tenant_file(user))
            return self._provision_sqlite_attempt(user, steps, version, may_discard=False)

    def _provision_sqlite_attempt(
        self, user: str, steps: list[Step], version: int, *, may_discard: bool
    ) -> int:
        """Create the user's tables in their file, then record them in the shared file.

        A brand-new file (absent or empty) holds nothing to protect, so its DDL commits with
        the journal in memory: one fsync of the new file instead of a journal's four, and
        the shared file takes no part in that commit. The registry rows and ``ready`` commit
        in the shared file afterwards, once the new file and its directory entry are on
        disk, so the registry never lists what a crash could lose. After a crash:

        * between the two commits, the file holds complete tables that no registry row
          lists: the next run finds them in the catalog and registers them;
        * inside the first commit, the file may be torn, and no registry row lists
          anything in it: the next run finds it damaged and starts it again.

        Any other file (a resume) runs as before: catalog check, DDL, registry rows and
        ``ready`` in one transaction over both files, with the usual rollback journal.
        """
        path = self.db.tenant_file(user)
        fresh = _holds_nothing(path)
        try:
            with self._work_connection(user, create=True) as conn:
                if fresh:
                    _driver(conn).execute("PRAGMA tenant.journal_mode = MEMORY")
                with conn.begin():
                    record = self._claim(conn, user)
                    if not fresh:
                        return self._resume_in_one_transaction(
                            conn, user, steps, version, record, may_discard=may_discard
                        )
                    ran, pending = self._create_missing(
                        conn, user, steps, catalog_empty=True, nothing_registered=record is None
                    )
                _sync_directory(path.parent)
                with conn.begin():
                    registry.record_ready(conn, user, version, new_row=record is None)
                    registry.register_objects(conn, user, pending)
                return ran
        except (_AlreadyReady, ProvisioningError, _DamagedTenantFile):
            raise
        except Exception as exc:
            if (
                may_discard
                and not fresh
                and isinstance(exc, sqlite3.DatabaseError)
                and self._lists_nothing(user)
            ):
                raise _DamagedTenantFile(user) from exc  # ATTACH refused the file
            self._record_failure(user, exc, "failed", count_attempt=True)
            raise ProvisioningError(user, _describe(exc)) from exc

    def _resume_in_one_transaction(
        self,
        conn: Connection,
        user: str,
        steps: list[Step],
        version: int,
        record: registry.TenantRecord | None,
        *,
        may_discard: bool,
    ) -> int:
        """An existing SQLite file: check it, create what is missing, register, ``ready``."""
        lists_nothing = record is None or not registry.registered_objects(conn, user)
        if may_discard and lists_nothing and not _tenant_file_intact(conn):
            raise _DamagedTenantFile(user)
        ran, pending = self._create_missing(conn, user, steps, nothing_registered=record is None)
        registry.record_ready(conn, user, version, new_row=record is None)
        registry.register_objects(conn, user, pending)
        return ran

    def _lists_nothing(self, user: str) -> bool:
        """Whether the registry claims none of ``user``'s objects and no finished state."""
        with self.db.transaction() as conn:
            record = registry.get_tenant(conn, user)
            if record is None:
                return True
            return record.state != "ready" and not registry.registered_objects(conn, user)

    def _record_failure(
        self,
        user: str,
        exc: BaseException,
        state: str,
        *,
        count_attempt: bool,
        take_lock: bool = False,
    ) -> None:
        """Write ``state`` and the error to the user's registry row (creating the row).

        ``take_lock``: the failed transaction held the user's lock and released it with its
        rollback, so the lock is taken again; a worker that finished the user in between
        keeps its ``ready``, and a worker still busy with it writes the state itself.
        """
        try:
            with self.db.transaction() as conn:
                if take_lock:
                    lock_in_transaction(conn, user, wait_seconds=self.wait_seconds)
                    record = registry.get_tenant(conn, user)
                    if record is not None and record.state == "ready":
                        return
                # The claim may have rolled back with the DDL: the row must exist to say so.
                registry.ensure_tenant_row(conn, user)
                registry.set_state(
                    conn, user, state, error=_describe(exc), count_attempt=count_attempt
                )
        except TenantBusy:
            return

    def _record(self, user: str) -> registry.TenantRecord:
        with self.db.transaction() as conn:
            record = registry.get_tenant(conn, user)
        if record is None:
            raise ProvisioningError(user, "no such user in the provisioning registry")
        return record

    @contextmanager
    def _work_connection(self, user: str, *, create: bool) -> Iterator[Connection]:
        with self.db.connect() as conn, self.db.attached(conn, user, create=create):
            yield conn

    def _run_steps(
        self,
        user: str,
        steps: list[Step],
        *,
        finish: Callable[[Connection], None],
        start: Callable[[Connection], None] | None = None,
    ) -> int:
        """Run ``steps`` in order, then ``finish`` (the registry's new state); on failure
        record ``failed`` in the registry and re-raise. (Migrations have their own path:
        :mod:`.migrate`.)

        Where DDL is transactional (SQLite, PostgreSQL) the steps and ``finish`` share one
        transaction, so a failure leaves nothing behind and success commits once; on Oracle
        each statement commits by itself and every step is its own unit, resumed by the
        next run.
        """
        try:
            with self._work_connection(user, create=True) as conn:
                if self.commit_each_step:
                    if start is not None:
                        with conn.begin():
                            start(conn)
                    ran = sum(self._apply_committed(conn, user, step) for step in steps)
                    with conn.begin():
                        finish(conn)
                    return ran
                with conn.begin():
                    # Claim, DDL, registry and new state commit together: one transaction.
                    if start is not None:
                        start(conn)
                    ran = self.apply_steps(conn, user, steps)
                    finish(conn)
                    return ran
        except (_AlreadyReady, ProvisioningError):
            raise
        except Exception as exc:
            self._record_failure(
                user, exc, "failed", count_attempt=start is not None and not self.commit_each_step
            )
            raise ProvisioningError(user, _describe(exc)) from exc

    def apply_steps(self, conn: Connection, user: str, steps: list[Step]) -> int:
        """Make every step true inside the caller's transaction; return DDL statements run.

        Existence is read from the catalog in one query for the whole list (columns, rare,
        ask the inspector), and registration from the registry in one more.
        """
        ran, pending = self._create_missing(conn, user, steps)
        registry.register_objects(conn, user, pending)
        return ran

    def _create_missing(
        self,
        conn: Connection,
        user: str,
        steps: list[Step],
        *,
        catalog_empty: bool = False,
        nothing_registered: bool = False,
    ) -> tuple[int, list[registry.ObjectRow]]:
        """Run each step whose object is not in the catalog; return the count and the
        registry rows still to write.

        ``catalog_empty`` and ``nothing_registered`` are for callers that know it already
        (a brand-new user) and skip the catalog or the registry query.
        """
        object_steps = [s for s in steps if s.registers_object]
        present = (
            set()
            if catalog_empty
            else existing_objects(
                conn, [s.object_name for s in object_steps], schema=self.db.tenant_schema
            )
        )
        registered = (
            set()
            if nothing_registered
            else {o.object_name for o in registry.registered_objects(conn, user)}
        )
        ran = 0
        pending: list[registry.ObjectRow] = []
        # Compiled statements go to the driver's cursor: SQLAlchemy's work per statement
        # (events, result set-up) costs about as much as SQLite's own for a CREATE.
        cursor = conn.connection.cursor()
        try:
            for step in steps:
                exists = step.object_name in present if step.registers_object else step.exists(conn)
                if not exists:
                    self._hook("before", step)
                    if step.compiled is not None:
                        cursor.execute(step.compiled)
                    else:
                        step.run(conn)
                    ran += 1
                    self._hook("after", step)
                if step.registers_object and step.object_name not in registered:
                    pending.append((step.object_name, step.kind, step.template_part, step.version))
        finally:
            cursor.close()
        return ran, pending

    def _apply_committed(self, conn: Connection, user: str, step: Step) -> int:
        """One step as Oracle runs it: the DDL commits by itself, registration follows.

        A crash between the two leaves an unregistered object, which the next run finds in
        the catalog and registers instead of creating again.
        """
        with conn.begin():
            if step.registers_object:
                present = bool(existing_objects(conn, [step.object_name], schema=step.schema))
            else:
                present = step.exists(conn)
            if not present:
                self._hook("before", step)
                step.run(conn)
        if not present:
            self._hook("after", step)
        if step.registers_object:
            with conn.begin():
                if not registry.is_registered(conn, user, step.object_name):
                    registry.register_objects(
                        conn,
                        user,
                        [(step.object_name, step.kind, step.template_part, step.version)],
                    )
        return 0 if present else 1

    def _drop_registered(self, user: str) -> int:
        with self.db.transaction() as conn:
            registered = {o.object_name: o for o in registry.registered_objects(conn, user)}
        if not registered:
            return 0
        tables = tenant_tables(user, schema=self.db.tenant_schema)
        # Reverse creation order: views, then indexes, then tables children-first.
        order = [s for s in reversed(provision_steps(tables)) if s.object_name in registered]
        unknown = set(registered) - {s.object_name for s in order}
        if unknown:
            raise ProvisioningError(
                user, f"registry lists objects the template does not define: {sorted(unknown)}"
            )
        if self.db.is_sqlite and not self.db.tenant_file(user).exists():
            # The file went first (a crash after removing it): nothing is left to drop.
            with self.db.transaction() as conn:
                for name in registered:
                    registry.unregister_object(conn, user, name)
            return 0
        ran = 0
        try:
            with self._work_connection(user, create=False) as conn:
                for step in order:
                    obj = registered[step.object_name]
                    with conn.begin():
                        if step.exists(conn):
                            self._hook("before", step)
                            conn.execute(drop_statement(tables, obj.object_type, obj.object_name))
                            ran += 1
                            self._hook("after", step)
                        registry.unregister_object(conn, user, obj.object_name)
        except Exception as exc:
            with self.db.transaction() as conn:
                registry.set_state(conn, user, "deprovisioning", error=_describe(exc))
            raise ProvisioningError(user, _describe(exc)) from exc
        return ran

    def _hook(self, when: str, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(when, step)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[: registry.LAST_ERROR_MAX]


class _DamagedTenantFile(Exception):
    """A SQLite file no registry row lists anything in, and SQLite cannot read it whole."""


def _driver(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection has no driver connection")
    return raw  # type: ignore[no-any-return]


def _holds_nothing(path: Path) -> bool:
    """Whether a user's SQLite file is absent or empty, with no journal to roll back."""
    try:
        if path.stat().st_size > 0:
            return False
    except FileNotFoundError:
        pass
    return not path.with_name(path.name + "-journal").exists()


def _tenant_file_intact(conn: Connection) -> bool:
    """``PRAGMA quick_check`` of the attached user file (a torn write fails it)."""
    try:
        rows = _driver(conn).execute("PRAGMA tenant.quick_check").fetchall()
    except sqlite3.DatabaseError:
        return False
    return [tuple(row) for row in rows] == [("ok",)]


def _discard_tenant_file(path: Path) -> None:
    """Remove a damaged user file that holds nothing the registry lists, and its journal."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + "-journal").unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    """fsync a directory, so a file just created in it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
