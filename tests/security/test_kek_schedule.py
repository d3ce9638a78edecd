"""The master-key schedule: when a KEK must be replaced, drained, and may be destroyed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskCliRunner

from pathfinder.db import Database
from pathfinder.jobs.runner import run_job
from pathfinder.schema.shared.security import kek_versions
from pathfinder.security.kek_schedule import KekSchedule, sync_schedule
from pathfinder.security.keys import LocalKeyProvider
from pathfinder.security.rotation import rotate_kek
from tests.security import add_user, keyring, store_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = {"rotation_days": 90, "backup_retention_days": 35}


def _provider(ring: dict[str, str]) -> LocalKeyProvider:
    return LocalKeyProvider.from_config({"KEK_KEYRING": ring})


def _statuses(schedule: KekSchedule) -> dict[int, str]:
    return {v.version: v.status(schedule.now) for v in schedule.versions}


def test_a_kek_is_replaced_drained_and_then_destroyable(db: Database) -> None:
    keys: dict[int, str] = {}
    ring_v1 = keyring(1, keys=keys)
    alice = add_user(db, store_for(ring_v1), "alice", provision=False)
    assert alice.id

    first = sync_schedule(db, _provider(ring_v1), T0, **DAYS)
    assert _statuses(first) == {1: "current"} and first.due() == []
    late = sync_schedule(db, _provider(ring_v1), T0 + timedelta(days=91), **DAYS)
    assert len(late.due()) == 1 and "KEK version 1" in late.due()[0]
    assert "add a new version" in late.due()[0]

    # The operator adds v2; the first look after it sees v1 still wrapping alice's key.
    t1 = T0 + timedelta(days=92)
    ring_v2 = keyring(1, 2, keys=keys)
    added = sync_schedule(db, _provider(ring_v2), t1, **DAYS)
    assert _statuses(added) == {1: "draining", 2: "current"} and added.due() == []
    assert next(v for v in added.versions if v.version == 1).wrapped_keys == 1

    rotate_kek(db, _provider(ring_v2))
    drained = sync_schedule(db, _provider(ring_v2), t1, **DAYS)
    v1 = next(v for v in drained.versions if v.version == 1)
    assert v1.drained_at == t1 and v1.removable_from == t1 + timedelta(days=35)
    assert _statuses(drained)[1] == "kept-for-backups" and drained.due() == []

    # A backup from before the drain still holds keys only v1 opens: keep it until they expire.
    due = sync_schedule(db, _provider(ring_v2), t1 + timedelta(days=36), **DAYS)
    assert _statuses(due)[1] == "remove-now"
    assert any("KEK version 1" in action and "destroy" in action for action in due.due())

    gone = sync_schedule(db, _provider(keyring(2, keys=keys)), t1 + timedelta(days=37), **DAYS)
    assert _statuses(gone) == {1: "removed", 2: "current"} and gone.due() == []
    # Recorded once: a later look does not move the dates.
    again = sync_schedule(db, _provider(keyring(2, keys=keys)), t1 + timedelta(days=50), **DAYS)
    assert [v.removed_at for v in again.versions if v.version == 1] == [t1 + timedelta(days=37)]


def test_the_erasure_date_follows_the_schedule(db: Database) -> None:
    keys: dict[int, str] = {}
    ring_v1 = keyring(1, keys=keys)
    add_user(db, store_for(ring_v1), "alice", provision=False)
    schedule = sync_schedule(db, _provider(ring_v1), T0, **DAYS)
    erased = T0 + timedelta(days=10)
    # v1 is replaced by day 90 at the latest, drained a day later, destroyable 35 days on.
    assert schedule.erasure_reaches_backups_by(erased) == T0 + timedelta(days=90 + 1 + 35)
    t1 = T0 + timedelta(days=40)
    ring_v2 = keyring(1, 2, keys=keys)
    rotate_kek(db, _provider(ring_v2))
    replaced = sync_schedule(db, _provider(ring_v2), t1, **DAYS)
    assert replaced.erasure_reaches_backups_by(erased) == t1 + timedelta(days=35)


def test_the_job_fails_while_a_replacement_is_due(app: Flask, db: Database) -> None:
    first = run_job(app, "kek_schedule")
    assert first.outcome == "succeeded", first.error
    with db.transaction() as conn:
        conn.execute(
            kek_versions.update().values(current_since=datetime.now(UTC) - timedelta(days=100))
        )
    overdue = run_job(app, "kek_schedule")
    assert overdue.outcome == "failed"
    assert overdue.error is not None and "add a new version" in overdue.error


def test_the_schedule_command_shows_what_is_due(
    app: Flask, db: Database, runner: FlaskCliRunner
) -> None:
    calm = runner.invoke(args=["keys", "schedule"])
    assert calm.exit_code == 0, calm.output
    assert "current" in calm.output and "DUE" not in calm.output
    with db.transaction() as conn:
        conn.execute(
            kek_versions.update().values(current_since=datetime.now(UTC) - timedelta(days=100))
        )
    overdue = runner.invoke(args=["keys", "schedule"])
    assert overdue.exit_code == 1 and "DUE: KEK version 1" in overdue.output


def test_new_kek_adds_the_next_version(app: Flask, runner: FlaskCliRunner) -> None:
    refused = runner.invoke(args=["keys", "new-kek"])
    assert refused.exit_code != 0 and "KEK_KEYRING is not configured" in refused.output
    app.config["KEK_KEYRING"] = json.dumps(keyring(1))
    added = runner.invoke(args=["keys", "new-kek"])
    assert added.exit_code == 0, added.output
    ring = json.loads(added.output)
    assert sorted(ring) == ["1", "2"] and ring["1"] != ring["2"]
    assert LocalKeyProvider.from_config({"KEK_KEYRING": ring}).current_version == 2
