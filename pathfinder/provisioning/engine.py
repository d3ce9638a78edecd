"""The provisioning engine: provision, deprovision and migrate users' tables.

Every operation on a user runs under that user's lock (:mod:`.locks`) and as a list of
idempotent steps (:mod:`.plan`). A step creates its object unless the catalog already has it
and registers it in ``pf_tenant_objects`` unless already registered; on SQLite and PostgreSQL
both happen in one transaction, on Oracle (where DDL commits) the registration follows. So a
crash between any two statements leaves a state the next run completes, and deprovisioning
drops exactly what the registry lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db.database import Database
from pathfinder.provisioning import registry
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.provisioning.locks import remove_lock_file, tenant_lock
from pathfinder.provisioning.plan import (
    Step,
    cached_provision_steps,
    drop_statement,
    migration_steps,
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

    def provision(self, username: str, *, version: int = LATEST_TEMPLATE_VERSION) -> Result:
        """Create ``username``'s tables at ``version`` (default latest); safe to repeat.

        A second caller for the same user waits for the first and then finds it ready. An
        older ``version`` is for staging upgrades and for tests of ``migrate``.
        """
        user = normalize_username(username)
        with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
            steps = cached_provision_steps(
                user, version, schema=self.db.tenant_schema, dialect=self.db.engine.dialect
            )

            def claim(conn: Connection) -> None:
                record = registry.get_tenant(conn, user)
                if record is not None and record.state == "ready":
                    raise _AlreadyReady(record.template_version)
                if record is not None and record.state == "deprovisioning":
                    raise ProvisioningError(
                        user, "a deprovisioning is unfinished; run deprovision again to finish it"
                    )
                registry.ensure_tenant_row(conn, user)
                registry.set_state(conn, user, "creating", count_attempt=True)

            def finish(conn: Connection) -> None:
                registry.set_state(conn, user, "ready", template_version=version)

            try:
                ran = self._run_steps(
                    user, steps, on_error_state="failed", start=claim, finish=finish
                )
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

    def migrate_user(self, username: str, *, target: int = LATEST_TEMPLATE_VERSION) -> Result:
        """Bring one ready user to ``target``; a user already there costs one query."""
        user = normalize_username(username)
        with tenant_lock(self.db, user, wait_seconds=self.wait_seconds):
            record = self._record(user)
            if record.state != "ready" or record.template_version is None:
                raise ProvisioningError(user, f"cannot migrate a user in state {record.state!r}")
            if record.template_version >= target:
                return Result(user, "up_to_date", record.template_version, 0)
            steps = migration_steps(
                user, record.template_version, target, schema=self.db.tenant_schema
            )

            def finish(conn: Connection) -> None:
                registry.set_state(conn, user, "ready", template_version=target)

            ran = self._run_steps(user, steps, on_error_state="ready", finish=finish)
            return Result(user, "migrated", target, ran)

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
        steps = migration_steps(user, record.template_version, target, schema=self.db.tenant_schema)
        return [step.sql(self.db.engine.dialect) for step in steps]

    # -- internals ---------------------------------------------------------------------

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
        on_error_state: str,
        finish: Callable[[Connection], None],
        start: Callable[[Connection], None] | None = None,
    ) -> int:
        """Run ``steps`` in order, then ``finish`` (the registry's new state); on failure
        record it in the registry and re-raise.

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
            with self.db.transaction() as conn:
                # The claim may have rolled back with the DDL: the row must exist to say so.
                registry.ensure_tenant_row(conn, user)
                registry.set_state(
                    conn,
                    user,
                    on_error_state,
                    error=_describe(exc),
                    count_attempt=start is not None and not self.commit_each_step,
                )
            raise ProvisioningError(user, _describe(exc)) from exc

    def apply_steps(self, conn: Connection, user: str, steps: list[Step]) -> int:
        """Make every step true inside the caller's transaction; return DDL statements run.

        Existence is read from the catalog in one query for the whole list (columns, rare,
        ask the inspector), and registration from the registry in one more.
        """
        object_steps = [s for s in steps if s.registers_object]
        present = existing_objects(
            conn, [s.object_name for s in object_steps], schema=self.db.tenant_schema
        )
        registered = {o.object_name for o in registry.registered_objects(conn, user)}
        ran = 0
        to_register: list[Step] = []
        for step in steps:
            exists = step.object_name in present if step.registers_object else step.exists(conn)
            if not exists:
                self._hook("before", step)
                step.run(conn)
                ran += 1
                self._hook("after", step)
            if step.registers_object and step.object_name not in registered:
                to_register.append(step)
        registry.register_objects(
            conn,
            user,
            [(s.object_name, s.kind, s.template_part, s.version) for s in to_register],
        )
        return ran

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
