"""``privacy_settings.analytics_opt_out`` stops usage-event collection for that user."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.analytics import user_analytics
from tests.conftest import AuthActions

EVENT = {"event_type": "page_view", "page_url": "https://app.example.com/dashboard"}


def _events_of(db: Database, user_id: str) -> int:
    with db.transaction() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(user_analytics.c.user_id == user_id)
            ).scalar_one()
        )


def test_an_opted_out_user_is_not_tracked(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    private = auth.headers(auth.register("private"))
    public = auth.headers(auth.register("tracked"))
    assert client.post("/api/v1/events", headers=private, json=EVENT).status_code == 201
    saved = client.put(
        "/api/v1/me/preferences",
        headers=private,
        json={"privacy_settings": {"analytics_opt_out": True}},
    )
    assert saved.status_code == 200, saved.get_json()
    dropped = client.post("/api/v1/events", headers=private, json=EVENT)
    assert dropped.status_code == 202
    assert dropped.get_json() == {"recorded": False, "reason": "analytics_opt_out"}
    assert _events_of(db, auth.user_id("private")) == 1  # only the one from before
    assert client.post("/api/v1/events", headers=public, json=EVENT).status_code == 201
    # Only a JSON true opts out; a string is not guessed at.
    client.put(
        "/api/v1/me/preferences",
        headers=private,
        json={"privacy_settings": {"analytics_opt_out": "yes"}},
    )
    assert client.post("/api/v1/events", headers=private, json=EVENT).status_code == 201
