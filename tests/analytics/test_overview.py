"""Admin aggregates: DAU/WAU/MAU from pf_mv_user_stats, events by type per day, the rollup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.analytics.events import insert_event
from pathfinder.analytics.overview import rollup_daily_events
from pathfinder.db import Database
from tests.chat.helpers import problem
from tests.conftest import AuthActions

OVERVIEW = "/api/v1/admin/analytics/overview"
REFRESH = "/api/v1/admin/analytics/refresh"


def backdated_event(db: Database, user_id: str, event_type: str, days_ago: float) -> None:
    with db.transaction() as conn:
        insert_event(
            conn,
            event_type=event_type,
            user_id=user_id,
            event_data={"secret_note": "never shown"},
            now=datetime.now(UTC) - timedelta(days=days_ago),
        )


def test_overview_counts_active_users_and_events(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    admin = auth.headers(auth.register("boss"))
    auth.set_role("boss", "admin")
    admin = auth.headers(auth.login("boss"))
    alice = auth.headers(auth.register("alice"))
    bob = auth.headers(auth.register("bob"))
    auth.register("carol")
    auth.register("dave")
    for headers, kind in ((alice, "page_view"), (alice, "page_view"), (bob, "feature_used")):
        assert (
            client.post("/api/v1/events", headers=headers, json={"event_type": kind}).status_code
            == 201
        )
    backdated_event(db, auth.user_id("carol"), "page_view", days_ago=3)  # weekly, not daily
    backdated_event(db, auth.user_id("dave"), "search_performed", days_ago=20)  # monthly only

    refreshed = client.post(REFRESH, headers=admin)
    assert refreshed.status_code == 200, refreshed.get_json()
    body = refreshed.get_json()
    users = body["active_users"]
    assert users["users"] == 5
    assert (users["dau"], users["wau"], users["mau"]) == (2, 3, 4)
    assert users["as_of"] is not None

    days = {d["day"]: d for d in body["events_by_day"]}
    assert len(days) == 30
    today = datetime.now(UTC).date()
    assert days[today.isoformat()]["by_type"] == {"feature_used": 1, "page_view": 2}
    assert days[today.isoformat()]["total"] == 3
    assert days[today.isoformat()]["active_users"] == 2
    assert days[(today - timedelta(days=3)).isoformat()]["by_type"] == {"page_view": 1}
    assert days[(today - timedelta(days=1)).isoformat()]["total"] == 0
    assert body["events_by_type"] == {"feature_used": 1, "page_view": 3, "search_performed": 1}
    # Aggregates only: no event data, page or user ever appears.
    assert "never shown" not in json.dumps(body) and "alice" not in json.dumps(body)

    week = client.get(OVERVIEW, headers=admin, query_string={"days": 7}).get_json()
    assert len(week["events_by_day"]) == 7
    assert week["events_by_type"] == {"feature_used": 1, "page_view": 3}
    assert week["active_users"] == users  # the snapshot, until the next refresh

    for query in ({"days": 0}, {"days": 91}, {"days": "week"}, {"x": 1}):
        assert client.get(OVERVIEW, headers=admin, query_string=query).status_code == 422
    denied = client.get(OVERVIEW, headers=alice)
    assert denied.status_code == 403 and problem(denied)["status"] == 403
    assert client.post(REFRESH, headers=alice).status_code == 403


def test_daily_rollup(runner: FlaskCliRunner, auth: AuthActions, db: Database) -> None:
    auth.register("alice")
    auth.register("bob")
    alice, bob = auth.user_id("alice"), auth.user_id("bob")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    at = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    with db.transaction() as conn:
        for user_id, kind in ((alice, "page_view"), (alice, "page_view"), (bob, "chat_opened")):
            insert_event(conn, event_type=kind, user_id=user_id, now=at)
        # Just outside the day on both sides.
        insert_event(
            conn, event_type="page_view", user_id=bob, now=at - timedelta(hours=12, microseconds=1)
        )
        insert_event(conn, event_type="page_view", user_id=bob, now=at + timedelta(hours=12))

    rollup = rollup_daily_events(db, yesterday)
    assert rollup.as_json() == {
        "day": yesterday.isoformat(),
        "total_events": 3,
        "active_users": 2,
        "by_type": {"chat_opened": 1, "page_view": 2},
    }
    result = runner.invoke(args=["analytics", "rollup"])  # default: yesterday
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == rollup.as_json()
    empty = runner.invoke(args=["analytics", "rollup", "--day", "2001-01-01", "--no-refresh"])
    assert json.loads(empty.output)["total_events"] == 0
    assert runner.invoke(args=["analytics", "rollup", "--day", "Tuesday"]).exit_code == 2
    refreshed = runner.invoke(args=["analytics", "refresh-stats"])
    assert refreshed.exit_code == 0 and "refreshed" in refreshed.output
