"""``pathfinder tenants ...`` and ``pathfinder db ...`` through Flask's CLI runner."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.provisioning import Provisioner
from pathfinder.schema.shared import SHARED_SCHEMA_VERSION
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables
from tests.conftest import make_app
from tests.provisioning.helpers import catalog_objects, expected_objects, registered, state


def test_db_init_is_repeatable_and_status_reports_versions(runner: FlaskCliRunner) -> None:
    again = runner.invoke(args=["db", "init"])
    assert again.exit_code == 0, again.output
    assert "0 table(s) created" in again.output
    status = runner.invoke(args=["db", "status"])
    assert status.exit_code == 0, status.output
    assert f"shared schema version: {SHARED_SCHEMA_VERSION}" in status.output
    assert f"template version: {LATEST_TEMPLATE_VERSION}" in status.output


def test_db_status_fails_on_an_uninitialised_database(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    result = app.test_cli_runner().invoke(args=["db", "status"])
    assert result.exit_code == 1
    assert "not initialised" in result.output


def test_db_init_creates_the_shared_tables(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    result = app.test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"pf_tenant_provisioning", "pf_tenant_objects", "pf_users", "pf_audit_log"} <= names


def test_provision_verify_deprovision_lifecycle(runner: FlaskCliRunner, db: Database) -> None:
    result = runner.invoke(args=["tenants", "provision", "alice", "Bob"])
    assert result.exit_code == 0, result.output
    assert "alice: created" in result.output
    assert "bob: created" in result.output

    verify = runner.invoke(args=["tenants", "verify", "--all"])
    assert verify.exit_code == 0, verify.output
    assert "2 user(s) checked, 0 with drift" in verify.output

    listing = runner.invoke(args=["tenants", "list"])
    assert "alice" in listing.output and "ready" in listing.output

    status = runner.invoke(args=["tenants", "status", "alice"])
    assert status.exit_code == 0
    assert "state: ready" in status.output
    assert "pf_user_alice_experiences" in status.output

    dropped = runner.invoke(args=["tenants", "deprovision", "alice", "--yes"])
    assert dropped.exit_code == 0, dropped.output
    assert catalog_objects(db, "alice") == set()
    assert catalog_objects(db, "bob") == expected_objects(db, "bob")


def test_deprovision_asks_for_confirmation(runner: FlaskCliRunner, db: Database) -> None:
    Provisioner(db).provision("alice")
    result = runner.invoke(args=["tenants", "deprovision", "alice"], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert registered(db, "alice") == expected_objects(db, "alice")


def test_provision_from_csv_file(runner: FlaskCliRunner, db: Database, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("username,email\ncarol,c@example.com\ndave,d@example.com\n\n")
    result = runner.invoke(args=["tenants", "provision", "--file", str(users)])
    assert result.exit_code == 0, result.output
    assert state(db, "carol") == "ready" and state(db, "dave") == "ready"


def test_user_mistakes_are_one_line_and_non_zero(runner: FlaskCliRunner) -> None:
    bad = runner.invoke(args=["tenants", "provision", "bad-name"])
    assert bad.exit_code == 1
    assert "invalid username 'bad-name'" in bad.output
    assert "Traceback" not in bad.output

    none = runner.invoke(args=["tenants", "provision"])
    assert none.exit_code == 2
    assert "at least one USERNAME" in none.output

    unknown = runner.invoke(args=["tenants", "status", "ghost_user"])
    assert unknown.exit_code == 1
    assert "not in the provisioning registry" in unknown.output

    missing_file = runner.invoke(args=["tenants", "provision", "--file", "/nonexistent.csv"])
    assert missing_file.exit_code == 2
    assert "does not exist" in missing_file.output

    both = runner.invoke(args=["tenants", "verify", "--all", "alice"])
    assert both.exit_code == 2


def test_verify_reports_drift_and_repair_fixes_it(runner: FlaskCliRunner, db: Database) -> None:
    Provisioner(db).provision("alice")
    # The real names (db.tables_for gives the shared templates, named at execution).
    tables = tenant_tables("alice", schema=db.tenant_schema)
    index = next(ix for ix in tables.skills.indexes)
    with db.connect() as conn, db.attached(conn, "alice"):
        with conn.begin():
            conn.execute(sa.schema.DropIndex(index))

    verify = runner.invoke(args=["tenants", "verify", "alice"])
    assert verify.exit_code == 1
    assert f"alice: missing indexes: {index.name}" in verify.output
    assert "registered but missing" in verify.output

    repair = runner.invoke(args=["tenants", "repair", "alice"])
    assert repair.exit_code == 0, repair.output
    assert "0 with drift" in repair.output
    assert runner.invoke(args=["tenants", "verify", "alice"]).exit_code == 0


def test_verify_reports_an_extra_column_and_repair_leaves_it(
    runner: FlaskCliRunner, db: Database
) -> None:
    Provisioner(db).provision("alice")
    tables = tenant_tables("alice", schema=db.tenant_schema)
    with db.connect() as conn, db.attached(conn, "alice"):
        with conn.begin():
            from pathfinder.schema.ddl import AddColumn

            conn.execute(AddColumn(tables.skills, sa.Column("stray", sa.Integer())))
    verify = runner.invoke(args=["tenants", "verify", "alice"])
    assert verify.exit_code == 1
    assert "extra columns: pf_user_alice_skills.stray" in verify.output
    repair = runner.invoke(args=["tenants", "repair", "alice"])
    assert repair.exit_code == 1  # extra things are reported, never dropped


def test_migrate_dry_run_then_migrate(runner: FlaskCliRunner, db: Database) -> None:
    Provisioner(db).provision("oldie", version=1)
    Provisioner(db).provision("newbie")

    dry = runner.invoke(args=["tenants", "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"-- oldie: v1 -> v{LATEST_TEMPLATE_VERSION}" in dry.output
    assert "CREATE TABLE" in dry.output and "pf_user_oldie_pert_responses" in dry.output
    assert "ALTER TABLE" in dry.output
    assert "newbie" not in dry.output
    assert state(db, "oldie") == "ready"
    assert catalog_objects(db, "oldie") == expected_objects(db, "oldie", version=1)

    oracle_sql = runner.invoke(args=["tenants", "migrate", "--dry-run", "--dialect", "oracle"])
    assert "VARCHAR2" in oracle_sql.output

    migrate = runner.invoke(args=["tenants", "migrate"])
    assert migrate.exit_code == 0, migrate.output
    assert "migrated 1 user(s)" in migrate.output
    assert catalog_objects(db, "oldie") == expected_objects(db, "oldie")

    noop = runner.invoke(args=["tenants", "migrate"])
    assert noop.exit_code == 0
    assert "nothing to do" in noop.output


def test_cli_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    app: Flask = make_app("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path)
    result = app.test_cli_runner().invoke(args=["tenants", "list"])
    assert result.exit_code == 1
    assert "database error" in result.output
    assert "Traceback" not in result.output


def test_a_username_with_a_trailing_newline_is_refused_before_any_ddl(
    runner: FlaskCliRunner, db: Database
) -> None:
    result = runner.invoke(args=["tenants", "provision", "alice\n"])
    assert result.exit_code == 1
    assert "control characters" in result.output
    assert state(db, "alice") is None and state(db, "alice\n") is None
    if db.is_sqlite:
        assert not any(db.settings.tenant_dir.glob("alice*"))


def test_repair_all_reports_user_files_with_no_registry_row(
    runner: FlaskCliRunner, db: Database
) -> None:
    assert runner.invoke(args=["tenants", "provision", "alice"]).exit_code == 0
    if not db.is_sqlite:
        clean = runner.invoke(args=["tenants", "repair", "--all"])
        assert clean.exit_code == 0 and "orphaned" not in clean.output
        return
    # What a process killed after creating a file, or a name that dodged the validator,
    # leaves behind.
    stray = [db.settings.tenant_dir / "ghost.db", db.settings.tenant_dir / "bob\n.db"]
    for path in stray:
        path.write_bytes(b"")
    result = runner.invoke(args=["tenants", "repair", "--all"])
    assert result.exit_code == 1
    assert "orphaned user file with no registry row (left in place): 'ghost.db'" in result.output
    assert "'bob\\n.db'" in result.output
    assert "2 orphaned user file(s)" in result.output
    assert all(path.exists() for path in stray)
    verify = runner.invoke(args=["tenants", "verify", "--all"])
    assert verify.exit_code == 1 and "ghost.db" in verify.output
