"""``pathfinder tenants migrate`` over many users, on SQLite and PostgreSQL, for real.

Batches, a failing user isolated from its batch, a run killed half-way and run again, and
parallel jobs: each drives the real CLI against a real database and checks the result with
``verify_user`` and the catalog, never through the engine's own account of what it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner, registry
from pathfinder.provisioning.verify import repair_user, verify_user
from pathfinder.schema.shared.security import audit_log
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION
from tests.provisioning.helpers import catalog_objects, expected_objects, registered

LATEST = LATEST_TEMPLATE_VERSION


def _versions(db: Database, names: list[str]) -> dict[str, int | None]:
    with db.transaction() as conn:
        records = registry.get_tenants(conn, names)
    return {name: records[name].template_version for name in names}


def _provision(db: Database, names: list[str], version: int) -> None:
    provisioner = Provisioner(db)
    for name in names:
        provisioner.provision(name, version=version)


def _assert_latest_and_clean(db: Database, names: list[str]) -> None:
    assert set(_versions(db, names).values()) == {LATEST}
    for name in names:
        drift = verify_user(db, name)
        assert drift.clean, (name, drift.lines())
        assert registered(db, name) == expected_objects(db, name)


def _drop_table_behind_the_engines_back(db: Database, username: str, part: str) -> None:
    with db.connect() as conn, db.attached(conn, username), conn.begin():
        table = f"pf_user_{username}_{part}"
        conn.exec_driver_sql(f"DROP TABLE {'tenant.' if db.is_sqlite else ''}{table}")


def test_migrate_brings_mixed_versions_to_the_latest_in_batches(
    runner: FlaskCliRunner, db: Database
) -> None:
    at_v1 = [f"vone{i}" for i in range(4)]
    at_v2 = [f"vtwo{i}" for i in range(3)]
    _provision(db, at_v1, 1)
    _provision(db, at_v2, 2)
    _provision(db, ["current"], LATEST)

    result = runner.invoke(args=["tenants", "migrate", "--batch-size", "3", "--verbose"])

    assert result.exit_code == 0, result.output
    assert "migrated 7 user(s)" in result.output
    assert f"vone0: migrated (v1 -> v{LATEST}" in result.output
    assert f"vtwo0: migrated (v2 -> v{LATEST}" in result.output
    assert "current" not in result.output  # never pending, never touched
    assert f"Migrating to v{LATEST}: 7/7 users in" in result.output  # the piped count line
    _assert_latest_and_clean(db, at_v1 + at_v2)
    with db.transaction() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.target_display, audit_log.c.outcome).where(
                audit_log.c.event_type == "tenant_provisioned"
            )
        ).all()
    migrated_rows = sorted(name for name, outcome in rows if name in at_v1 + at_v2)
    assert migrated_rows == sorted(at_v1 + at_v2)  # one audit row per migrated user
    again = runner.invoke(args=["tenants", "migrate"])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_a_failing_user_is_isolated_recorded_and_migrated_once_repaired(
    runner: FlaskCliRunner, db: Database
) -> None:
    names = ["alice", "bob", "carol", "dave", "erin"]
    _provision(db, names, 2)
    # Carol's table is gone: v3's ALTER TABLE on it fails, for her alone.
    _drop_table_behind_the_engines_back(db, "carol", "chat_messages")

    result = runner.invoke(args=["tenants", "migrate", "--batch-size", "10"])

    assert result.exit_code == 1
    assert "error: carol:" in result.output
    assert "1 of 5 user(s) failed" in result.output
    assert "migrated 4 user(s)" in result.output
    versions = _versions(db, names)
    assert versions.pop("carol") == 2
    assert set(versions.values()) == {LATEST}  # the rest of her batch went through
    with db.transaction() as conn:
        carol = registry.get_tenant(conn, "carol")
    assert carol is not None and carol.state == "ready" and carol.last_error
    assert "pf_user_carol_chat_messages" not in catalog_objects(db, "carol")
    with db.transaction() as conn:
        failures = conn.execute(
            sa.select(audit_log.c.outcome).where(
                audit_log.c.event_type == "tenant_provisioned",
                audit_log.c.target_display == "carol",
            )
        ).all()
    assert [row.outcome for row in failures] == ["failure"]

    assert repair_user(db, "carol").clean is False  # repaired, still behind the latest
    rerun = runner.invoke(args=["tenants", "migrate"])

    assert rerun.exit_code == 0, rerun.output
    assert "migrated 1 user(s)" in rerun.output
    _assert_latest_and_clean(db, names)
    with db.transaction() as conn:
        record = registry.get_tenant(conn, "carol")
    assert record is not None and record.last_error is None


# The CLI in a child process, with a step hook that ends the process (os._exit: no clean-up,
# no exception handling) right after its Nth DDL statement.
KILLED_CLI = textwrap.dedent(
    """
    import os, sys
    from pathfinder.provisioning import engine

    kill_at = int(sys.argv[1])
    count = {"n": 0}

    def hook(phase, step):
        if phase == "after":
            count["n"] += 1
            if count["n"] == kill_at:
                os._exit(137)

    original = engine.Provisioner.__init__

    def with_hook(self, db, **kwargs):
        kwargs.setdefault("on_step", hook)
        original(self, db, **kwargs)

    engine.Provisioner.__init__ = with_hook
    from pathfinder.cli import main

    sys.argv = ["pathfinder", "tenants", "migrate", *sys.argv[2:]]
    main()
    """
)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_migration_resumes_where_it_stopped(
    runner: FlaskCliRunner, db: Database, jobs: str
) -> None:
    names = [f"user{i:02d}" for i in range(10)]
    _provision(db, names, 2)
    env = dict(os.environ)
    env["PATHFINDER_DATABASE_URL"] = db.settings.url
    env["PATHFINDER_INSTANCE_PATH"] = str(db.settings.instance_path)
    # v2 -> v3 (--to 3) is five statements a user; die after the first of the eighth user. With
    # batches of three, user07's own file is already committed on SQLite (its registry row
    # is not), and user08's DDL is half done.
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CLI, "36", "--to", "3", "--batch-size", "3", "--jobs", jobs],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert child.returncode == 137, child.stderr
    versions = _versions(db, names)
    assert 0 < sum(v == 3 for v in versions.values()) < len(names)

    rerun = runner.invoke(args=["tenants", "migrate", "--batch-size", "3", "--jobs", jobs])

    assert rerun.exit_code == 0, rerun.output
    _assert_latest_and_clean(db, names)


def test_parallel_jobs_migrate_every_user_once(runner: FlaskCliRunner, db: Database) -> None:
    names = [f"par{i:02d}" for i in range(12)]
    _provision(db, names, 1)

    result = runner.invoke(args=["tenants", "migrate", "--jobs", "3", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "migrated 12 user(s)" in result.output
    _assert_latest_and_clean(db, names)
    with db.transaction() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.event_type == "tenant_provisioned",
                audit_log.c.details.is_not(None),
                audit_log.c.target_display.in_(names),
                audit_log.c.outcome == "success",
            )
        ).scalar_one()
    assert count == len(names)  # provisioned by the engine directly: these are the migration's


def test_migrate_to_an_earlier_version_stages_the_upgrade(
    runner: FlaskCliRunner, db: Database
) -> None:
    _provision(db, ["stager"], 1)

    staged = runner.invoke(args=["tenants", "migrate", "--to", "2"])

    assert staged.exit_code == 0, staged.output
    assert "migrated 1 user(s) to template v2" in staged.output
    assert _versions(db, ["stager"]) == {"stager": 2}
    assert runner.invoke(args=["tenants", "migrate", "--to", "2"]).output.startswith(
        "All users are at template version 2"
    )
    assert runner.invoke(args=["tenants", "migrate"]).exit_code == 0
    _assert_latest_and_clean(db, ["stager"])
