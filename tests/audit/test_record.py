"""``audit.record``: what a row holds, what it refuses, and that it shares the change's fate."""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from pathfinder import audit
from pathfinder.audit.sanitise import is_secret_key, sanitise_details
from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner
from tests.audit import audit_rows, principal, seal, verify

HEX64 = re.compile(r"[0-9a-f]{64}")


def test_a_row_holds_the_event_actor_target_and_its_hmac(app: Flask, db: Database) -> None:
    caller = principal("alice", "admin")
    target = new_id()
    with app.app_context(), db.transaction() as conn:
        row_id = audit.record(
            conn,
            "user_updated",
            actor=caller,
            target_type="user",
            target_id=target,
            target_display="bob",
            details={"fields": ["role"]},
            request_meta={"ip_address": "192.0.2.7", "user_agent": "curl/8"},
        )
    [row] = audit_rows(db)
    assert row["id"] == row_id
    assert row["seq"] == 1
    assert HEX64.fullmatch(row["row_hash"])
    assert (row["event_type"], row["outcome"]) == ("user_updated", "success")
    assert (row["actor_id"], row["actor_role"], row["actor_display"]) == (
        caller.user_id,
        "admin",
        "alice",
    )
    assert (row["target_type"], row["target_id"], row["target_display"]) == (
        "user",
        target,
        "bob",
    )
    assert row["details"] == {"fields": ["role"]}
    assert (row["ip_address"], row["user_agent"]) == ("192.0.2.7", "curl/8")
    assert row["created_at"].tzinfo is not None
    report = verify(app, db)
    assert report.ok and report.unsealed == 1, report.findings
    assert seal(app, db).tree_size == 1
    assert verify(app, db).ok


def test_actor_as_mapping_or_none(app: Flask, db: Database) -> None:
    user_id = new_id()
    with app.app_context(), db.transaction() as conn:
        audit.record(
            conn,
            "authn_login_fail",
            actor={"user_id": user_id, "username": "carol", "role": "user"},
            outcome="failure",
        )
        audit.record(conn, "sys_job_run", details={"job": "refresh"})
    first, second = audit_rows(db)
    assert (first["actor_id"], first["actor_display"], first["outcome"]) == (
        user_id,
        "carol",
        "failure",
    )
    assert second["actor_id"] is None and second["actor_role"] is None
    assert second["seq"] > first["seq"]
    assert verify(app, db).ok


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"event": "user_exploded"}, audit.UnknownAuditEvent),
        ({"event": "user_created", "outcome": "maybe"}, ValueError),
        ({"event": "user_created", "actor": {"user_id": "x", "password": "p"}}, ValueError),
        ({"event": "user_created", "request_meta": {"query": "token=1"}}, ValueError),
        ({"event": "user_created", "target_id": "x" * 27}, ValueError),
    ],
)
def test_invalid_calls_raise_and_write_nothing(
    app: Flask, db: Database, kwargs: dict[str, object], error: type[Exception]
) -> None:
    arguments = dict(kwargs)  # parameters are shared by both back-ends' runs
    event = str(arguments.pop("event"))
    with app.app_context(), pytest.raises(error), db.transaction() as conn:
        audit.record(conn, event, **arguments)  # type: ignore[arg-type]
    assert audit_rows(db) == []


def test_the_vocabulary_is_closed_and_owasp_named() -> None:
    required = {
        "authn_login_success",
        "authn_login_fail",
        "authn_login_lock",
        "authn_token_created",
        "authn_token_revoked",
        "authn_token_reuse",
        "authn_password_change",
        "authn_password_reset_request",
        "authn_mfa_enabled",
        "authn_mfa_disabled",
        "authz_fail",
        "authz_admin",
        "user_created",
        "user_updated",
        "user_deleted",
        "user_suspended",
        "privilege_permissions_changed",
        "session_created",
        "session_revoked",
        "sensitive_create",
        "sensitive_read",
        "sensitive_update",
        "sensitive_delete",
        "crypt_key_rotated",
        "crypt_decrypt_fail",
        "data_export",
        "excess_rate_limit_exceeded",
        "sys_config_changed",
        "request",
        "input_validation_fail",
    }
    assert required <= set(audit.EVENTS)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{1,63}", name) for name in audit.EVENTS)
    assert all(audit.EVENTS[name] for name in audit.EVENTS)
    with pytest.raises(TypeError):
        audit.EVENTS["made_up"] = "no"  # type: ignore[index]


SECRET_VALUES = (
    "hunter2-password",
    "r3fresh-t0ken-value",
    "123456",
    "RECOVERY-CODE-1",
    "sk_live_api_key_value",
    "s3ssion-cookie",
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"


def test_secrets_in_details_never_reach_the_row(app: Flask, db: Database) -> None:
    details = {
        "password": SECRET_VALUES[0],
        "refresh_token": SECRET_VALUES[1],
        "mfa": {"code": SECRET_VALUES[2], "recovery_codes": [SECRET_VALUES[3]]},
        "clients": [{"apiKey": SECRET_VALUES[4]}, {"Cookie": SECRET_VALUES[5]}],
        "note": f"header was Bearer {JWT}",
        "status_code": 401,
        "key_version": 3,
        "reason": "bad_password",
    }
    with app.app_context(), db.transaction() as conn:
        audit.record(conn, "authn_login_fail", outcome="failure", details=details)
    [row] = audit_rows(db)
    stored = repr(row)
    for secret in (*SECRET_VALUES, JWT):
        assert secret not in stored
    assert row["details"]["password"] == "[redacted]"
    assert row["details"]["mfa"] == {"code": "[redacted]", "recovery_codes": "[redacted]"}
    assert row["details"]["clients"] == [{"apiKey": "[redacted]"}, {"Cookie": "[redacted]"}]
    assert row["details"]["note"] == "[redacted]"
    assert row["details"]["status_code"] == 401
    assert row["details"]["key_version"] == 3
    assert row["details"]["reason"] == "bad_password"
    assert verify(app, db).ok


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("new_password", True),
        ("passwordHash", True),
        ("token", True),
        ("access_token", True),
        ("client_secret", True),
        ("Authorization", True),
        ("set-cookie", True),
        ("code", True),
        ("totp_code", True),
        ("recovery_codes", True),
        ("key", True),
        ("api_key", True),
        ("apiKey", True),
        ("private_key", True),
        ("session_id", True),
        ("otp", True),
        ("status_code", False),
        ("error_code", False),
        ("country_code", False),
        ("key_version", False),
        ("reason", False),
        ("username", False),
        ("route", False),
        ("failures", False),
        ("other_sessions_ended", False),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_details_are_made_json_safe_and_bounded() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(20):
        node["next"] = {}
        node = node["next"]  # type: ignore[assignment]
    cleaned = sanitise_details(
        {
            "nan": math.nan,
            "big": 1e300,
            "neg_zero": -0.0,
            "ratio": 0.25,
            "when": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            "day": date(2025, 1, 2),
            "tags": {"b", "a"},
            "pair": (1, 2),
            "nul": "a\x00b",
            "long": "x" * 5000,
            "deep": deep,
            7: "int key",
        }
    )
    assert cleaned is not None
    assert cleaned["nan"] == "nan" and cleaned["big"] == "1e+300"
    assert cleaned["neg_zero"] == 0.0 and math.copysign(1, cleaned["neg_zero"]) == 1
    assert cleaned["ratio"] == 0.25
    assert cleaned["when"] == "2025-01-02T03:04:05.000006Z"
    assert cleaned["day"] == "2025-01-02"
    assert cleaned["tags"] == ["a", "b"] and cleaned["pair"] == [1, 2]
    assert cleaned["nul"] == "ab"
    assert len(cleaned["long"]) == 2000
    assert "[truncated]" in repr(cleaned["deep"])
    assert cleaned["7"] == "int key"
    assert sanitise_details({}) is None and sanitise_details(None) is None


def test_odd_details_survive_the_round_trip_and_verify(app: Flask, db: Database) -> None:
    details = {"ratio": 0.1, "tiny": 1e-7, "huge_int": 2**62, "text": "naïve 😀", "none": None}
    with app.app_context(), db.transaction() as conn:
        audit.record(conn, "sys_config_changed", details=details)
    assert audit_rows(db)[0]["details"] == details
    assert verify(app, db).ok


def test_text_is_clipped_and_empty_text_is_null(app: Flask, db: Database) -> None:
    with app.app_context(), db.transaction() as conn:
        audit.record(
            conn,
            "request",
            actor={"user_id": new_id(), "username": "d" * 300, "role": "user"},
            target_display="",
            request_meta={"user_agent": "u" * 900, "request_path": "/" + "p" * 2000},
        )
    [row] = audit_rows(db)
    assert len(row["actor_display"]) == 200
    assert len(row["user_agent"]) == 500
    assert len(row["request_path"]) == 1000
    assert row["target_display"] is None
    assert verify(app, db).ok


def test_inside_a_request_missing_request_fields_come_from_it(app: Flask, db: Database) -> None:
    with app.test_request_context(
        "/api/v1/things/x?token=query-secret",
        method="PATCH",
        headers={"User-Agent": "pytest-agent/1"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    ):
        with db.transaction() as conn:
            audit.record(conn, "sensitive_update")
            audit.record(conn, "sensitive_update", request_meta={"ip_address": "203.0.113.9"})
    first, second = audit_rows(db)
    assert (first["http_method"], first["request_path"]) == ("PATCH", "/api/v1/things/x")
    assert (first["ip_address"], first["user_agent"]) == ("198.51.100.4", "pytest-agent/1")
    assert (second["ip_address"], second["user_agent"]) == ("203.0.113.9", "pytest-agent/1")
    assert "query-secret" not in repr(first) + repr(second)


def test_the_change_and_its_audit_row_commit_or_roll_back_together(
    app: Flask, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pathfinder.audit")
    Provisioner(db).provision("alice")
    now = datetime.now(UTC)

    def add_experience(conn: sa.Connection, tables: object, title: str) -> str:
        experience_id = new_id()
        conn.execute(
            tables.experiences.insert().values(  # type: ignore[attr-defined]
                id=experience_id,
                title=title,
                employment_type="full_time",
                start_date=date(2020, 1, 1),
                is_current=True,
                created_at=now,
                updated_at=now,
            )
        )
        return experience_id

    with app.app_context():
        with pytest.raises(RuntimeError), db.tenant_transaction("alice") as (conn, tables):
            add_experience(conn, tables, "never")
            audit.record(conn, "sensitive_create", target_type="experience")
            raise RuntimeError("the request failed after recording")
        with db.tenant_transaction("alice") as (conn, tables):
            kept = add_experience(conn, tables, "kept")
            audit.record(conn, "sensitive_create", target_type="experience", target_id=kept)

    with db.tenant_transaction("alice") as (conn, tables):
        titles = conn.execute(sa.select(tables.experiences.c.title)).scalars().all()
    assert titles == ["kept"]
    rows = audit_rows(db)
    assert [r["target_id"] for r in rows] == [kept]
    seal(app, db)
    report = verify(app, db)
    assert report.ok, report.findings
    if db.dialect_name == "sqlite":
        # AUTOINCREMENT is rolled back with the transaction: no number is lost.
        assert rows[0]["seq"] == 1 and report.gaps == []
    else:
        # The identity gave 1 to the rolled-back insert; the gap is reported, and the log
        # says it was a rollback (docs/audit.md: telling a rollback from a deletion).
        assert rows[0]["seq"] == 2 and report.gaps == [(1, 1)]
        assert any(
            "seq rolled back" in r.getMessage() and "1" in r.getMessage() for r in caplog.records
        )
