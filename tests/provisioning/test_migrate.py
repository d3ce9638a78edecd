"""The batch migrator: plans, batches, isolation of a failure, busy users, lock order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner, registry
from pathfinder.provisioning.batches import run_batches
from pathfinder.provisioning.locks import tenant_lock
from pathfinder.provisioning.migrate import UserMigration
from pathfinder.provisioning.plan import Step, cached_migration_steps, migration_steps
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION
from tests.provisioning.helpers import expected_objects, registered

LATEST = LATEST_TEMPLATE_VERSION


def _at(db: Database, names: list[str], version: int) -> None:
    for name in names:
        Provisioner(db).provision(name, version=version)


def _version(db: Database, name: str) -> int | None:
    with db.transaction() as conn:
        record = registry.get_tenant(conn, name)
    return record.template_version if record else None


@pytest.mark.parametrize(("start", "end"), [(1, 2), (2, 3), (1, 3), (3, 4), (1, 4)])
def test_cached_plans_are_the_built_plans_for_every_user(
    db: Database, start: int, end: int
) -> None:
    dialect = db.engine.dialect
    for name in ("alice", "u" + "x" * 29):
        built = migration_steps(name, start, end, schema=db.tenant_schema)
        cached = cached_migration_steps(name, start, end, schema=db.tenant_schema, dialect=dialect)
        assert [s.sql(dialect) for s in cached] == [s.sql(dialect) for s in built]
        assert [(s.kind, s.object_name, s.template_part, s.version) for s in cached] == [
            (s.kind, s.object_name, s.template_part, s.version) for s in built
        ]
        columns = [s.column_key for s in cached if s.kind == "column"]
        assert columns == [s.column_key for s in built if s.kind == "column"]
        assert all(table.startswith(f"pf_user_{name}_") for table, _ in columns)


def _failing_for(username: str) -> Callable[[str, Step], None]:
    def hook(when: str, step: Step) -> None:
        if when == "before" and step.object_name.startswith(f"pf_user_{username}_"):
            raise RuntimeError(f"injected failure for {username}")

    return hook


@pytest.mark.parametrize("step_by_step", [False, True], ids=["batch", "oracle-style"])
def test_a_failure_costs_only_its_own_user(db: Database, step_by_step: bool) -> None:
    names = ["ann", "ben", "cat", "dan"]
    _at(db, names, 1)
    provisioner = Provisioner(db, on_step=_failing_for("ben"), commit_each_step=step_by_step)

    outcomes = {o.username: o for o in provisioner.migrator().migrate(names)}

    assert outcomes["ben"].failed and "injected failure for ben" in (outcomes["ben"].error or "")
    assert [o.outcome for n, o in sorted(outcomes.items()) if n != "ben"] == ["migrated"] * 3
    assert _version(db, "ben") == 1
    with db.transaction() as conn:
        ben = registry.get_tenant(conn, "ben")
    assert ben is not None and ben.state == "ready" and "injected" in (ben.last_error or "")
    for name in ("ann", "cat", "dan"):
        assert verify_user(db, name).clean
        assert registered(db, name) == expected_objects(db, name)
    # Nothing of ben's half-done migration is registered where the DDL rolled back.
    assert Provisioner(db).migrate_user("ben").outcome == "migrated"
    assert verify_user(db, "ben").clean


def test_a_user_held_by_another_worker_is_skipped_not_failed(db: Database) -> None:
    names = ["held", "free1", "free2"]
    _at(db, names, 2)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with tenant_lock(db, "held", wait_seconds=5):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        outcomes = {
            o.username: o for o in Provisioner(db, wait_seconds=0.3).migrator().migrate(names)
        }
    finally:
        release.set()
        holder.join(10)

    assert outcomes["held"].busy and outcomes["held"].failed
    assert outcomes["free1"].outcome == outcomes["free2"].outcome == "migrated"
    with db.transaction() as conn:
        held = registry.get_tenant(conn, "held")
    assert held is not None and held.template_version == 2 and held.last_error is None


def test_users_not_ready_are_reported_and_left_alone(db: Database) -> None:
    _at(db, ["ready1"], 1)
    with db.transaction() as conn:
        registry.ensure_tenant_row(conn, "halfway")
        registry.set_state(conn, "halfway", "creating", error="earlier failure")

    outcomes = {
        o.username: o for o in Provisioner(db).migrator().migrate(["ready1", "halfway", "nobody"])
    }

    assert outcomes["ready1"].outcome == "migrated"
    assert outcomes["halfway"].failed and "state 'creating'" in (outcomes["halfway"].error or "")
    assert outcomes["nobody"].failed and "no such user" in (outcomes["nobody"].error or "")
    with db.transaction() as conn:
        halfway = registry.get_tenant(conn, "halfway")
    assert halfway is not None and halfway.last_error == "earlier failure"


def test_tables_already_ahead_of_the_registry_are_recorded_without_ddl(db: Database) -> None:
    """What a SQLite run killed between a user's commit and the batch's registry commit
    leaves (and any database after a DBA ran the DDL by hand): nothing left to run."""
    _at(db, ["ahead"], 2)
    steps = cached_migration_steps(
        "ahead", 2, LATEST, schema=db.tenant_schema, dialect=db.engine.dialect
    )
    with db.connect() as conn, db.attached(conn, "ahead"), conn.begin():
        for step in steps:
            step.run(conn)

    result = Provisioner(db).migrate_user("ahead")

    assert result.outcome == "migrated" and result.steps_run == 0
    assert verify_user(db, "ahead").clean


def test_postgres_batch_locks_in_username_order_in_one_transaction(db: Database) -> None:
    if db.dialect_name != "postgresql":
        pytest.skip("the one-transaction batch is PostgreSQL's")
    names = ["zed", "amy", "max"]
    _at(db, names, 2)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        outcomes = Provisioner(db).migrator().migrate(names)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)

    assert [o.username for o in outcomes] == ["amy", "max", "zed"]
    locks = [s for s in statements if "pf_tenant_locks" in s]
    assert len(locks) == 1  # one statement locks the whole batch
    assert [o.outcome for o in outcomes] == ["migrated"] * 3


def test_run_batches_runs_jobs_at_once_and_keeps_every_outcome() -> None:
    started = threading.Barrier(3, timeout=10)

    def work(batch: list[str]) -> list[UserMigration]:
        started.wait()  # passes only when three batches run at the same time
        return [UserMigration(name, "migrated", 1, 2) for name in batch]

    names = [f"n{i}" for i in range(9)]
    done: list[int] = []
    outcomes = run_batches(
        names, work, batch_size=3, jobs=3, on_batch=lambda o: done.append(len(o))
    )

    assert sorted(o.username for o in outcomes) == names
    assert done == [3, 3, 3]


def test_run_batches_turns_a_crashed_batch_into_its_users_failures() -> None:
    def work(batch: list[str]) -> list[UserMigration]:
        if "bad" in batch:
            raise ConnectionError("server closed the connection")
        time.sleep(0.01)
        return [UserMigration(name, "migrated", 1, 2) for name in batch]

    outcomes = run_batches(["a", "bad", "c", "d"], work, batch_size=2, jobs=2)

    failed = sorted(o.username for o in outcomes if o.failed)
    assert failed == ["a", "bad"]
    assert all("ConnectionError" in (o.error or "") for o in outcomes if o.failed)
