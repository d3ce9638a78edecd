"""Tests of the audit log: record, sealing, verification, middleware, pseudonymisation.

Small helpers shared by these modules live here rather than in a conftest, so each test
module says where its helpers come from.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from pathfinder import audit
from pathfinder.audit.sealer import SealReport
from pathfinder.audit.verify import VerifyReport, verify_configured
from pathfinder.auth.principal import Principal
from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.schema.shared.security import audit_log


def principal(username: str = "alice", role: str = "user") -> Principal:
    """A caller as the auth guard would set it."""
    return Principal(user_id=new_id(), username=username, role=role, session_id=new_id())


def audit_rows(db: Database) -> list[dict[str, Any]]:
    """Every audit row, in seq order, as plain dicts."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings().all()
        conn.rollback()
    return [dict(row) for row in rows]


def seal(app: Flask, db: Database) -> SealReport:
    """Run the sealer with ``app``'s settings."""
    with app.app_context():
        return audit.seal(db, app.config)


def verify(app: Flask, db: Database, **kwargs: Any) -> VerifyReport:
    """Run the verifier with ``app``'s keys and exported checkpoint file."""
    with app.app_context(), db.connect() as conn:
        report = verify_configured(conn, app, **kwargs)
        conn.rollback()
    return report


def kinds(report: VerifyReport) -> list[tuple[str, str]]:
    """``(where, kind)`` of each finding, in the order found."""
    return [(f.where, f.kind) for f in report.findings]


def write_events(app: Flask, db: Database, count: int, **kwargs: Any) -> list[str]:
    """``count`` rows, one transaction each, with varied content."""
    ids = []
    with app.app_context():
        for n in range(count):
            with db.transaction() as conn:
                ids.append(
                    audit.record(
                        conn,
                        "sensitive_update",
                        actor=kwargs.get("actor", principal(f"user{n:03d}")),
                        target_type="experience",
                        target_id=new_id(),
                        target_display=f"Experience {n}",
                        details={"n": n, "fields": ["title", "company"]},
                        request_meta={"ip_address": f"10.0.0.{n % 250}", "user_agent": "test/1"},
                    )
                )
    return ids


def execute(db: Database, statement: sa.Executable) -> None:
    """Run one tampering statement in its own transaction (what an attacker with SQL does)."""
    with db.transaction() as conn:
        conn.execute(statement)
