"""``pathfinder retention list|set|run`` through the CLI runner, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.schema.shared.analytics import user_analytics
from pathfinder.schema.shared.reference import data_retention_policies
from tests.admin import audit_events


def _events(db: Database, *ages: int) -> None:
    now = datetime.now(UTC)
    with db.transaction() as conn:
        for age in ages:
            conn.execute(
                user_analytics.insert().values(
                    id=new_id(), event_type="page_view", created_at=now - timedelta(days=age)
                )
            )


def _event_count(db: Database) -> int:
    with db.transaction() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(user_analytics)).scalar())


def test_list_shows_every_policy(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["retention", "list"])
    assert result.exit_code == 0, result.output
    assert "audit_log" in result.output and "2555 days" in result.output
    assert "never run" in result.output


def test_set_changes_a_policy_and_is_audited(runner: FlaskCliRunner, db: Database) -> None:
    result = runner.invoke(args=["retention", "set", "analytics_events", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "analytics_events: 30 days, delete, active" in result.output
    with db.transaction() as conn:
        days = conn.execute(
            sa.select(data_retention_policies.c.retention_days).where(
                data_retention_policies.c.policy_key == "analytics_events"
            )
        ).scalar_one()
    assert days == 30
    (row,) = audit_events(db, "sys_config_changed")
    assert row["actor_role"] == "dba" and row["details"]["after"] == {"retention_days": 30}


def test_set_refuses_what_the_table_does_not_allow(runner: FlaskCliRunner, db: Database) -> None:
    result = runner.invoke(args=["retention", "set", "audit_log", "--action", "delete"])
    assert result.exit_code == 1
    assert "pf_audit_log accepts only these actions: archive" in result.output
    assert "Traceback" not in result.output
    unknown = runner.invoke(args=["retention", "set", "nope", "--days", "3"])
    assert unknown.exit_code == 1 and "no retention policy has this key" in unknown.output
    nothing = runner.invoke(args=["retention", "set", "sessions"])
    assert nothing.exit_code == 2


def test_run_dry_run_counts_and_run_deletes(runner: FlaskCliRunner, db: Database) -> None:
    _events(db, 800, 900, 3)
    preview = runner.invoke(args=["retention", "run", "--dry-run", "--policy", "analytics_events"])
    assert preview.exit_code == 0, preview.output
    assert "analytics_events: would touch 2 row(s)" in preview.output
    assert _event_count(db) == 3
    with db.transaction() as conn:
        last = conn.execute(
            sa.select(data_retention_policies.c.last_run).where(
                data_retention_policies.c.policy_key == "analytics_events"
            )
        ).scalar_one()
    assert last is None  # a dry run changes nothing, not even last_run
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "analytics_events: touched 2 row(s)" in result.output
    assert "audit_log: touched 0 row(s)" in result.output
    assert _event_count(db) == 1
    runs = [r["details"] for r in audit_events(db, "sys_dba_action")]
    assert [d["dry_run"] for d in runs] == [True, False]
    assert runs[1]["applied"]["analytics_events"] == 2


def test_run_names_an_unknown_policy(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["retention", "run", "--policy", "nope"])
    assert result.exit_code == 1 and "no retention policy 'nope'" in result.output
