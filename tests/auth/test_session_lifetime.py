"""Refreshing slides a session's expiry, but never past its absolute lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import user_sessions
from tests.conftest import AuthActions

REFRESH = "/api/v1/auth/refresh"


def _expiries(db: Database, family_id: str) -> list[tuple[object, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(user_sessions.c.created_at, user_sessions.c.expires_at)
            .where(user_sessions.c.family_id == family_id)
            .order_by(user_sessions.c.created_at)
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_a_session_ends_at_its_absolute_lifetime_however_often_refreshed(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    auth.register("quinn")
    tokens = auth.login("quinn")
    family = tokens["session_id"] if "session_id" in tokens else None
    absolute = timedelta(days=float(client.application.config.get("SESSION_ABSOLUTE_DAYS", 90)))
    with db.transaction() as conn:
        family = (
            family
            or conn.execute(
                sa.select(user_sessions.c.family_id).order_by(user_sessions.c.created_at.desc())
            ).scalar_one()
        )
        # The sign-in happened long ago, within the refresh window of its latest token.
        conn.execute(
            user_sessions.update()
            .where(user_sessions.c.family_id == family)
            .values(created_at=datetime.now(UTC) - absolute + timedelta(hours=1))
        )
    rotated = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    started = _expiries(db, family)[0][0]
    newest_expiry = _expiries(db, family)[-1][1]
    assert newest_expiry <= started + absolute  # capped, not now + 30 days
    with db.transaction() as conn:
        conn.execute(
            user_sessions.update()
            .where(user_sessions.c.family_id == family)
            .values(created_at=datetime.now(UTC) - absolute - timedelta(minutes=1))
        )
    ended = client.post(REFRESH, json={"refresh_token": rotated.get_json()["refresh_token"]})
    assert ended.status_code == 401
    assert "maximum lifetime" in ended.get_json()["detail"]
