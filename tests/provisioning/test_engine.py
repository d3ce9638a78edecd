"""The provisioning engine on SQLite and PostgreSQL: create, repeat, drop, fail, resume."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner, ProvisioningError
from pathfinder.provisioning.locks import TenantBusy, tenant_lock
from pathfinder.provisioning.plan import Step, provision_steps
from pathfinder.provisioning.verify import verify_user
from pathfinder.schema.naming import InvalidUsername
from pathfinder.schema.shared.system import tenant_objects, tenant_provisioning
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables
from tests.concurrency import run_at_once
from tests.provisioning.helpers import (
    all_table_names,
    catalog_objects,
    expected_objects,
    registered,
    state,
)


class Boom(RuntimeError):
    """The fault the tests inject."""


def fail_at(index: int, when: str):  # type: ignore[no-untyped-def]
    """A step hook that raises at the ``index``-th statement, before or after it runs."""
    seen = {"n": 0}

    def hook(phase: str, step: Step) -> None:
        if phase == "before":
            seen["n"] += 1
        if phase == when and seen["n"] == index + 1:
            raise Boom(f"injected {when} step {index}: {step.object_name}")

    return hook


def test_provision_creates_every_template_object_and_registers_it(db: Database) -> None:
    result = Provisioner(db).provision("alice")
    assert result.outcome == "created"
    assert result.template_version == LATEST_TEMPLATE_VERSION
    expected = expected_objects(db, "alice")
    assert catalog_objects(db, "alice") == expected
    assert registered(db, "alice") == expected
    assert state(db, "alice") == "ready"
    assert verify_user(db, "alice").clean


def test_provision_is_idempotent_and_case_folded(db: Database) -> None:
    provisioner = Provisioner(db)
    provisioner.provision("alice")
    again = provisioner.provision("ALICE")
    assert again.outcome == "already_ready"
    assert again.steps_run == 0
    assert registered(db, "alice") == expected_objects(db, "alice")


def test_provision_refuses_invalid_usernames_before_touching_the_database(db: Database) -> None:
    before = all_table_names(db)
    with pytest.raises(InvalidUsername):
        Provisioner(db).provision("bad-name")
    assert all_table_names(db) == before
    assert state(db, "bad-name") is None


def test_users_tables_are_usable_in_a_tenant_transaction(db: Database) -> None:
    Provisioner(db).provision("alice")
    with db.tenant_transaction("alice") as (conn, tables):
        count = conn.execute(sa.select(sa.func.count()).select_from(tables.experiences)).scalar()
        summary = conn.execute(
            sa.select(sa.literal_column("total_roles")).select_from(
                sa.table(tables.views["career_summary"].name, schema=tables.schema)
            )
        ).scalar()
    assert count == 0
    assert summary == 0


def test_deprovision_drops_exactly_one_users_objects(db: Database) -> None:
    provisioner = Provisioner(db)
    for user in ("john", "john_doe", "bob"):
        provisioner.provision(user)
    shared_before = {t for t in all_table_names(db) if not t.startswith("pf_user_john")}

    result = provisioner.deprovision("john")

    assert result.outcome == "dropped"
    assert catalog_objects(db, "john") == set()
    assert registered(db, "john") == set()
    assert state(db, "john") == "dropped"
    for other in ("john_doe", "bob"):
        assert catalog_objects(db, other) == expected_objects(db, other)
        assert verify_user(db, other).clean
    assert shared_before <= all_table_names(db)
    if db.is_sqlite:
        assert not db.tenant_file("john").exists()
        assert db.tenant_file("john_doe").exists()


def test_deprovision_of_unknown_or_dropped_user_is_a_no_op(db: Database) -> None:
    provisioner = Provisioner(db)
    assert provisioner.deprovision("nobody").outcome == "absent"
    provisioner.provision("carol")
    provisioner.deprovision("carol")
    assert provisioner.deprovision("carol").outcome == "absent"


def test_a_dropped_user_can_be_provisioned_again(db: Database) -> None:
    provisioner = Provisioner(db)
    provisioner.provision("carol")
    provisioner.deprovision("carol")
    assert provisioner.provision("carol").outcome == "created"
    assert verify_user(db, "carol").clean


STEP_COUNT = len(provision_steps(tenant_tables("probe_user")))


@pytest.mark.parametrize("commit_each_step", [False, True], ids=["txn", "per-step"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_failure_at_every_step_then_rerun_converges(
    db: Database, when: str, commit_each_step: bool
) -> None:
    """Fail at each DDL statement in turn; the registry records it and a re-run finishes.

    ``per-step`` commits each statement on its own, as Oracle does, so a failure "after" a
    statement leaves a created but unregistered object for the re-run to adopt.
    """
    for index in range(STEP_COUNT):
        user = f"fault_{when[0]}_{index}"
        failing = Provisioner(db, on_step=fail_at(index, when), commit_each_step=commit_each_step)
        with pytest.raises(ProvisioningError, match="injected"):
            failing.provision(user)
        assert state(db, user) == "failed"

        result = Provisioner(db, commit_each_step=commit_each_step).provision(user)

        assert result.outcome == "created"
        expected = expected_objects(db, user)
        assert catalog_objects(db, user) == expected, index
        assert registered(db, user) == expected, index
        assert verify_user(db, user).clean, verify_user(db, user).lines()


@pytest.mark.parametrize("when", ["before", "after"])
def test_failure_while_deprovisioning_then_rerun_finishes(db: Database, when: str) -> None:
    for index in (0, STEP_COUNT // 2, STEP_COUNT - 1):
        user = f"drop_{when[0]}_{index}"
        Provisioner(db).provision(user)
        with pytest.raises(ProvisioningError, match="injected"):
            Provisioner(db, on_step=fail_at(index, when)).deprovision(user)
        assert state(db, user) == "deprovisioning"
        with pytest.raises(ProvisioningError, match="unfinished"):
            Provisioner(db).provision(user)

        assert Provisioner(db).deprovision(user).outcome == "dropped"
        assert catalog_objects(db, user) == set()
        assert registered(db, user) == set()


def test_concurrent_provisions_of_one_user_make_one_table_set(db: Database) -> None:
    results = run_at_once(lambda: Provisioner(db).provision("racer").outcome, 4)
    assert sorted(results) == ["already_ready"] * 3 + ["created"]
    assert registered(db, "racer") == expected_objects(db, "racer")
    assert verify_user(db, "racer").clean


def test_migrate_brings_an_old_user_to_the_latest_version(db: Database) -> None:
    provisioner = Provisioner(db)
    provisioner.provision("oldie", version=1)
    provisioner.provision("newbie")
    assert provisioner.count_pending_migrations() == 1
    assert catalog_objects(db, "oldie") == expected_objects(db, "oldie", version=1)
    behind = verify_user(db, "oldie")
    assert any("behind" in note for note in behind.notes)

    result = provisioner.migrate_user("oldie")

    assert result.outcome == "migrated"
    assert result.steps_run > 0
    assert provisioner.count_pending_migrations() == 0
    assert registered(db, "oldie") == expected_objects(db, "oldie")
    assert verify_user(db, "oldie").clean
    assert provisioner.migrate_user("oldie").outcome == "up_to_date"
    with db.tenant_transaction("oldie") as (conn, tables):
        conn.execute(
            tables.skills.insert().values(
                id="01J00000000000000000000000",
                name="SQL",
                is_primary=False,
                created_at=sa.func.current_timestamp(),
                updated_at=sa.func.current_timestamp(),
            )
        )
        source = conn.execute(sa.select(tables.skills.c.source)).scalar()
    assert source == "manual"


def test_migration_failure_is_recorded_and_resumable(db: Database) -> None:
    Provisioner(db).provision("oldie", version=1)
    with pytest.raises(ProvisioningError, match="injected"):
        Provisioner(db, on_step=fail_at(1, "after"), commit_each_step=True).migrate_user("oldie")
    assert state(db, "oldie") == "ready"
    assert Provisioner(db).count_pending_migrations() == 1
    assert Provisioner(db).migrate_user("oldie").outcome == "migrated"
    assert verify_user(db, "oldie").clean


def test_user_tables_do_not_grow_with_the_number_of_users(db: Database) -> None:
    first = db.tables_for("user_0")
    for index in range(300):
        tables = db.tables_for(f"user_{index}")
        assert tables.username == f"user_{index}"
        assert tables.experiences is first.experiences
    info = db.tables_cache_info()
    assert info.currsize == 1  # type: ignore[attr-defined]


def test_the_longest_username_provisions(db: Database) -> None:
    longest = "u" + "x" * 29
    assert Provisioner(db).provision(longest).outcome == "created"
    assert verify_user(db, longest).clean
    assert Provisioner(db).deprovision(longest).outcome == "dropped"


def _forget_registry(db: Database, username: str) -> None:
    """Delete a user's registry rows, as if the registry commit never happened."""
    with db.transaction() as conn:
        conn.execute(tenant_objects.delete().where(tenant_objects.c.username == username))
        conn.execute(tenant_provisioning.delete().where(tenant_provisioning.c.username == username))


def test_tables_no_registry_row_lists_are_adopted(db: Database) -> None:
    """A crash after the DDL committed but before the registry did (SQLite commits the new
    file first): the tables exist and no row claims them. The next provision adopts them.

    PostgreSQL commits both together, so there only tables made behind the engine's back
    look like this: the first call fails on them and records the user, the next adopts.
    """
    provisioner = Provisioner(db)
    provisioner.provision("orphan")
    _forget_registry(db, "orphan")

    if not db.is_sqlite:
        with pytest.raises(ProvisioningError):
            provisioner.provision("orphan")
        assert state(db, "orphan") == "failed"
    result = provisioner.provision("orphan")

    assert result.outcome == "created"
    assert result.steps_run == 0
    assert registered(db, "orphan") == expected_objects(db, "orphan")
    assert verify_user(db, "orphan").clean


@pytest.mark.parametrize("keep", [0, 50, 100, 1024, 4096, "half", "hole", "garbage"])
@pytest.mark.parametrize("registry_says", ["nothing", "dropped"])
def test_torn_new_tenant_file_is_started_again(
    db: Database, keep: int | str, registry_says: str
) -> None:
    """SQLite writes a brand-new user file without a journal; a crash inside that commit
    can leave it torn. No registry row lists anything in it, so the next run starts it again.
    """
    if not db.is_sqlite:
        pytest.skip("per-user files are SQLite's")
    provisioner = Provisioner(db)
    provisioner.provision("torn")
    path = db.tenant_file("torn")
    whole = path.read_bytes()
    if registry_says == "dropped":
        provisioner.deprovision("torn")
    else:
        _forget_registry(db, "torn")
    if keep == "garbage":
        torn = b"not a database " * 300
    elif keep == "hole":  # the file's full length, one page in the middle never written
        middle = len(whole) // 8192 * 4096
        torn = whole[:middle] + bytes(4096) + whole[middle + 4096 :]
    else:
        torn = whole[: len(whole) // 2 if keep == "half" else int(keep)]
    path.write_bytes(torn)

    result = provisioner.provision("torn")

    assert result.outcome == "created"
    assert catalog_objects(db, "torn") == expected_objects(db, "torn")
    assert registered(db, "torn") == expected_objects(db, "torn")
    assert verify_user(db, "torn").clean


def test_a_damaged_file_the_registry_lists_is_never_discarded(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("per-user files are SQLite's")
    provisioner = Provisioner(db)
    provisioner.provision("keeper")
    with db.transaction() as conn:
        conn.execute(
            tenant_provisioning.update()
            .where(tenant_provisioning.c.username == "keeper")
            .values(state="failed")
        )
    path = db.tenant_file("keeper")
    damaged = path.read_bytes()[:4096]
    path.write_bytes(damaged)

    with pytest.raises(ProvisioningError):
        provisioner.provision("keeper")

    assert path.read_bytes() == damaged
    assert registered(db, "keeper") == expected_objects(db, "keeper")


def test_new_file_journal_mode_does_not_outlive_provisioning(db: Database) -> None:
    """The user's later transactions commit with the shared file atomically: rollback
    journal, not the in-memory journal the new file was created with."""
    if not db.is_sqlite:
        pytest.skip("per-user files are SQLite's")
    Provisioner(db).provision("alice")
    with db.tenant_transaction("alice") as (conn, _tables):
        mode = conn.exec_driver_sql("PRAGMA tenant.journal_mode").scalar()
    assert mode == "delete"


def test_a_busy_user_times_out_without_marking_it_failed(db: Database) -> None:
    with tenant_lock(db, "busy", wait_seconds=5):
        started = time.monotonic()
        with pytest.raises(TenantBusy):
            Provisioner(db, wait_seconds=0.3).provision("busy")
        assert time.monotonic() - started < 5
    assert state(db, "busy") is None
    assert Provisioner(db).provision("busy").outcome == "created"
    assert verify_user(db, "busy").clean
