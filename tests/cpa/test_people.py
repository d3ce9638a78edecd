"""The people around a candidate, through the API on SQLite and PostgreSQL: shares to a
mentor (account) and a supervisor (link), mentor meetings, verification and re-verification,
comments, notifications, and revocation taking effect on the next request."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from pathfinder.db import Database
from pathfinder.schema.shared.cpa_sharing import comments, mentor_meetings, shares, verifications
from pathfinder.schema.shared.security import audit_log
from tests.conftest import AuthActions
from tests.cpa.factories import API, CHALLENGE, create_experience, create_report
from tests.cpa.sharing_helpers import (
    accept,
    completed_report,
    in_days,
    invitation_token,
    last_mail,
    link_token,
    mails,
    share,
)


def test_done_when_scenario(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    """The issue's "Done when", step by step."""
    cand = auth.headers(auth.register("candi"))
    mentor = auth.headers(auth.register("menta"))
    report = create_report(client, cand, "2024-01-01", "2024-06-30")
    first = create_experience(client, cand, report["id"], "FR1", "2024-01-02")
    second = create_experience(client, cand, report["id"], "FR2", "2024-01-02")
    third = create_experience(client, cand, report["id"], "MA1", "2024-01-02")

    # A share to the mentor's account, accepted while signed in.
    granted = share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="comment",
        grantee_kind="account",
        email="menta@example.com",
    )
    assert granted["state"] == "pending" and granted["link_token"] is None
    token = invitation_token(app, "menta@example.com")
    accepted = accept(client, mentor, token)
    assert accepted["sharer_username"] == "candi" and accepted["state"] == "active"
    again = client.post(f"{API}/share-invitations/accept", headers=mentor, json={"token": token})
    assert again.status_code == 404  # single use

    # A link share to the supervisor, with the verify scope.
    sup = share(
        client,
        cand,
        report_id=report["id"],
        role="supervisor",
        scope="verify",
        grantee_kind="link",
        email="boss@firm.example",
    )
    link = sup["link_token"]
    assert link and link == link_token(app, "boss@firm.example")
    with db.transaction() as conn:
        stored = conn.execute(sa.select(shares.c.token_hash, shares.c.grantee_email)).all()
    assert all(
        link not in row.token_hash and "firm.example" not in row.grantee_email for row in stored
    )
    lp = f"{API}/links/{link}"

    # The mentor records a meeting; the candidate acknowledges it.
    mp = f"{API}/shared/{granted['id']}"
    met = client.post(
        f"{mp}/meetings",
        headers=mentor,
        json={
            "meeting_date": date.today().isoformat(),
            "topics": "IFRS 15 close",
            "concerns": "Needs more MA work",
            "next_steps": "Budget project",
        },
    )
    assert met.status_code == 201, met.get_json()
    assert (
        client.post(
            f"{lp}/meetings", json={"meeting_date": "2024-03-01", "topics": "x"}
        ).status_code
        == 403
    )
    listed = client.get(f"{API}/meetings", headers=cand).get_json()["items"]
    assert [m["concerns"] for m in listed] == ["Needs more MA work"]
    ack = client.post(f"{API}/meetings/{listed[0]['id']}/acknowledge", headers=cand)
    assert ack.status_code == 200 and ack.get_json()["acknowledged_at"]
    with db.transaction() as conn:
        raw = conn.execute(sa.select(mentor_meetings.c.concerns)).scalar_one()
    assert "MA work" not in raw  # encrypted at rest

    # Not completed yet: the supervisor cannot verify.
    early = client.post(f"{lp}/experiences/{first['id']}/decision", json={"decision": "approve"})
    assert early.status_code == 409
    done = client.post(f"{API}/reports/{report['id']}/complete", headers=cand).get_json()
    assert done["pert_status"] == "completed"

    # The supervisor reads the report and verifies two experiences, returns one.
    seen = client.get(f"{lp}/reports/{report['id']}/experiences").get_json()["items"]
    assert {e["challenge"] for e in seen} == {CHALLENGE}
    for exp in (first, second):
        ok = client.post(f"{lp}/experiences/{exp['id']}/decision", json={"decision": "approve"})
        assert ok.status_code == 200, ok.get_json()
    assert (
        client.post(
            f"{lp}/experiences/{third['id']}/decision", json={"decision": "return"}
        ).status_code
        == 422
    )
    back = client.post(
        f"{lp}/experiences/{third['id']}/decision",
        json={"decision": "return", "comment": "The dates do not match our records."},
    )
    assert back.status_code == 200
    picture = back.get_json()["verification"]
    states = {e["experience_id"]: e["state"] for e in picture["experiences"]}
    assert states == {first["id"]: "verified", second["id"]: "verified", third["id"]: "returned"}
    assert picture["pert_status"] == "completed"
    assert "returned" in last_mail(app, "candi@example.com", "cpa_report_returned")
    # The mentor (comment scope, EVR report) cannot verify.
    assert (
        client.post(
            f"{mp}/experiences/{first['id']}/decision", headers=mentor, json={"decision": "approve"}
        ).status_code
        == 403
    )

    # The candidate edits the returned experience: a new version, needing verification.
    edited = client.patch(
        f"{API}/experiences/{third['id']}",
        headers=cand,
        json={"version_number": 1, "experience_title": "Budget variance work, corrected dates"},
    )
    assert edited.status_code == 200, edited.get_json()
    third_v2 = edited.get_json()
    ok = client.post(f"{lp}/experiences/{third_v2['id']}/decision", json={"decision": "approve"})
    assert ok.status_code == 200
    picture = ok.get_json()["verification"]
    assert picture["pert_status"] == "verified"
    assert "verified" in last_mail(app, "candi@example.com", "cpa_report_verified")

    # An edit after verification needs re-verification.
    edited = client.patch(
        f"{API}/experiences/{first['id']}",
        headers=cand,
        json={"version_number": 1, "results": "Revenue moved by $130k."},
    ).get_json()
    mine = client.get(f"{API}/reports/{report['id']}/verification", headers=cand).get_json()
    states = {e["experience_id"]: e["state"] for e in mine["experiences"]}
    assert states[edited["id"]] == "reverification_needed" and mine["pert_status"] == "completed"
    old = client.post(f"{lp}/experiences/{first['id']}/decision", json={"decision": "approve"})
    assert old.status_code == 409  # decisions are made on the current version

    # The candidate revokes the link: the next request through it is refused.
    revoked = client.post(f"{API}/shares/{sup['id']}/revoke", headers=cand)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    refused = client.get(lp)
    assert refused.status_code == 410
    assert refused.get_json()["type"].endswith("cpa-share-gone")
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert client.get(f"{lp}/reports/{report['id']}/experiences").status_code == 410

    # Who saw what: the candidate sees the supervisor's reads and decisions.
    log = client.get(f"{API}/shares/{sup['id']}/access?limit=100", headers=cand).get_json()["items"]
    actions = [e["action"] for e in log]
    assert actions.count("verified") == 3 and actions.count("returned") == 1 and "read" in actions
    assert all(e["grantee_kind"] == "link" and e["scope"] == "verify" for e in log)
    everyone = client.get(f"{API}/share-access?limit=100", headers=cand).get_json()["items"]
    assert {e["share_id"] for e in everyone} == {granted["id"], sup["id"]}
    assert any(e["grantee_username"] == "menta" for e in everyone)

    # The audit log has every action with sharer, grantee and scope; the token is masked.
    with db.transaction() as conn:
        rows = conn.execute(sa.select(audit_log.c.request_path, audit_log.c.details)).all()
    assert not any(link in (row.request_path or "") for row in rows)
    assert any("/cpa/links/[redacted]" in (row.request_path or "") for row in rows)
    through = [row.details for row in rows if (row.details or {}).get("share_id") == sup["id"]]
    assert len(through) == len(log)
    assert all(
        d["grantee"] == "link" and d["scope"] == "verify" and d["sharer_id"] for d in through
    )


def test_share_granted_mail_and_invitation_rules(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    cand = auth.headers(auth.register("candi"))
    other = auth.headers(auth.register("otto"))
    report = create_report(client, cand, "2024-01-01", "2024-06-30")
    share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="read",
        grantee_kind="account",
        email="someone@example.com",
    )
    token = invitation_token(app, "someone@example.com")
    # Another account (another address) cannot accept it, nor can the candidate.
    assert (
        client.post(
            f"{API}/share-invitations/accept", headers=other, json={"token": token}
        ).status_code
        == 404
    )
    own = client.post(f"{API}/share-invitations/accept", headers=cand, json={"token": token})
    assert own.status_code == 409
    # Scope and role must fit, and so must the route; an expiry must be ahead and bounded.
    share(
        client,
        cand,
        422,
        report_id=report["id"],
        role="mentor",
        scope="verify",
        grantee_kind="link",
        email="a@example.com",
    )
    share(
        client,
        cand,
        422,
        report_id=report["id"],
        role="program_leader",
        scope="certify",
        grantee_kind="link",
        email="a@example.com",
    )
    share(
        client,
        cand,
        422,
        role="mentor",
        scope="read",
        grantee_kind="link",
        email="a@example.com",
        expires_at=in_days(-1),
    )
    share(
        client,
        cand,
        422,
        role="mentor",
        scope="read",
        grantee_kind="link",
        email="a@example.com",
        expires_at=in_days(500),
    )
    share(
        client,
        cand,
        422,
        role="mentor",
        scope="read",
        grantee_kind="link",
        email="a@example.com",
        expires_at="2030-01-01T00:00:00",
    )  # no time zone
    assert len(mails(app, "cpa_share_granted")) == 1


def test_ppr_certification_by_program_leader(client: FlaskClient, auth: AuthActions) -> None:
    cand = auth.headers(auth.register("candi"))
    report, made = completed_report(client, cand, "2024-01-01", "2024-06-30", ["FR1"], route="PPR")
    leader = share(
        client,
        cand,
        report_id=report["id"],
        role="program_leader",
        scope="certify",
        grantee_kind="link",
        email="lead@example.com",
    )
    lp = f"{API}/links/{leader['link_token']}"
    ok = client.post(f"{lp}/experiences/{made[0]['id']}/decision", json={"decision": "approve"})
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["decision"]["decision"] == "certified"
    assert ok.get_json()["verification"]["pert_status"] == "verified"


def _read_only_link(
    client: FlaskClient, auth: AuthActions
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """A candidate's headers, a report of theirs and a read-only link share of it."""
    cand = auth.headers(auth.register("candi"))
    report = create_report(client, cand, "2024-01-01", "2024-06-30")
    link = share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="read",
        grantee_kind="link",
        email="m@example.com",
    )
    return cand, report, link


def test_expiry_ends_access_at_once(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    cand, report, link = _read_only_link(client, auth)
    lp = f"{API}/links/{link['link_token']}"
    assert client.get(lp).status_code == 200
    with db.transaction() as conn:
        conn.execute(shares.update().values(expires_at=sa.func.current_timestamp()))
    gone = client.get(lp)
    assert gone.status_code == 410 and gone.get_json()["reason"] == "expired"
    assert client.get(f"{API}/shares/{link['id']}", headers=cand).get_json()["state"] == "expired"


def test_link_requests_share_one_rate_limit_per_address(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    """A link token is a credential: requests with any token, on any link operation, count
    toward one limit per address; account grantees and other addresses are not held back."""
    cand, report, link = _read_only_link(client, auth)
    app.config["RATELIMIT_SHARE_LINK"] = "3 per minute"
    here = {"REMOTE_ADDR": "198.51.100.20"}
    lp = f"{API}/links/{link['link_token']}"
    statuses = [
        client.get(lp, environ_base=here).status_code,
        client.get(f"{lp}/reports/{report['id']}", environ_base=here).status_code,
        client.get(f"{API}/links/{'x' * 43}", environ_base=here).status_code,  # a guess
        client.get(lp, environ_base=here).status_code,
    ]
    assert statuses == [200, 200, 404, 429]
    limited = client.get(lp, environ_base=here)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["type"].endswith("rate-limited")
    assert client.get(lp, environ_base={"REMOTE_ADDR": "198.51.100.21"}).status_code == 200
    assert client.get(f"{API}/shares", headers=cand, environ_base=here).status_code == 200
    with db.transaction() as conn:
        refused = conn.execute(
            sa.select(audit_log.c.details).where(
                audit_log.c.event_type == "excess_rate_limit_exceeded"
            )
        ).all()
    assert refused and all("cpa.share_link" in str(row.details) for row in refused)
    assert link["link_token"] not in str([row.details for row in refused])


def test_comments_threads_mentions_and_private_notes(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    cand = auth.headers(auth.register("candi"))
    mentor = auth.headers(auth.register("menta"))
    report, made = completed_report(client, cand, "2024-01-01", "2024-06-30", ["FR1"])
    exp = made[0]
    m = share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="comment",
        grantee_kind="account",
        email="menta@example.com",
    )
    accept(client, mentor, invitation_token(app, "menta@example.com"))
    sup = share(
        client,
        cand,
        report_id=report["id"],
        role="supervisor",
        scope="verify",
        grantee_kind="link",
        email="boss@example.com",
    )
    reader = share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="read",
        grantee_kind="link",
        email="r@example.com",
    )
    mp, lp = f"{API}/shared/{m['id']}", f"{API}/links/{sup['link_token']}"

    first = client.post(
        f"{mp}/experiences/{exp['id']}/comments",
        headers=mentor,
        json={
            "body": "Say what you decided, not the team.",
            "part": "actions",
            "mentions": ["candidate", sup["id"]],
        },
    )
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["author_role"] == "mentor"
    assert "mentioned you" in last_mail(app, "candi@example.com", "cpa_comment_mention")
    assert "mentioned you" in last_mail(app, "boss@example.com", "cpa_comment_mention")
    note = client.post(
        f"{lp}/experiences/{exp['id']}/comments",
        json={"body": "Check payroll dates with HR.", "private": True},
    )
    assert note.status_code == 201
    reply = client.post(
        f"{API}/experiences/{exp['id']}/comments",
        headers=cand,
        json={"body": "Rewritten in the first person.", "parent_id": first.get_json()["id"]},
    )
    assert reply.status_code == 201
    # A private note of another grantee cannot be answered or resolved by the mentor.
    hidden = client.post(
        f"{mp}/experiences/{exp['id']}/comments",
        headers=mentor,
        json={"body": "x", "parent_id": note.get_json()["id"]},
    )
    assert hidden.status_code == 422
    assert (
        client.post(
            f"{mp}/comments/{note.get_json()['id']}/resolve",
            headers=mentor,
            json={"resolved": True},
        ).status_code
        == 404
    )
    # Unknown mentions are refused.
    bad = client.post(
        f"{API}/experiences/{exp['id']}/comments",
        headers=cand,
        json={"body": "x", "mentions": ["01J00000000000000000000000"]},
    )
    assert bad.status_code == 422

    # The thread follows the experience across versions; private notes only to their author.
    v2 = client.patch(
        f"{API}/experiences/{exp['id']}",
        headers=cand,
        json={"version_number": 1, "actions": "I built the schedule."},
    ).get_json()
    by_mentor = client.get(f"{mp}/experiences/{v2['id']}/comments", headers=mentor).get_json()[
        "items"
    ]
    by_sup = client.get(f"{lp}/experiences/{v2['id']}/comments").get_json()["items"]
    by_cand = client.get(f"{API}/experiences/{v2['id']}/comments", headers=cand).get_json()["items"]
    assert len(by_mentor) == 2 and len(by_cand) == 2 and len(by_sup) == 3
    assert all(not c["private"] for c in by_mentor + by_cand)
    assert [c["parent_id"] for c in by_cand] == [None, first.get_json()["id"]]

    # Resolving; a read-only share cannot comment or resolve.
    done = client.post(
        f"{mp}/comments/{first.get_json()['id']}/resolve", headers=mentor, json={"resolved": True}
    )
    assert done.status_code == 200 and done.get_json()["resolved"] is True
    reopened = client.post(
        f"{API}/comments/{first.get_json()['id']}/resolve", headers=cand, json={"resolved": False}
    )
    assert reopened.get_json()["resolved"] is False
    rp = f"{API}/links/{reader['link_token']}"
    assert (
        client.post(f"{rp}/experiences/{v2['id']}/comments", json={"body": "x"}).status_code == 403
    )
    assert (
        client.post(
            f"{rp}/comments/{first.get_json()['id']}/resolve", json={"resolved": True}
        ).status_code
        == 403
    )
    with db.transaction() as conn:
        bodies = conn.execute(sa.select(comments.c.body)).scalars().all()
        decided = conn.execute(sa.select(sa.func.count()).select_from(verifications)).scalar()
    assert all("first person" not in b and "payroll" not in b for b in bodies)
    assert decided == 0


def test_progress_warns_when_the_mentor_meeting_is_due(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    cand = auth.headers(auth.register("candi"))
    mentor = auth.headers(auth.register("menta"))
    start = date.today() - timedelta(days=200)
    create_report(client, cand, start.isoformat(), (start + timedelta(days=180)).isoformat())
    progress = client.get(f"{API}/progress", headers=cand).get_json()
    due = next(d for d in progress["deadlines"] if d["kind"] == "mentor_meeting")
    assert due["overdue"] is True
    assert "mentor_meeting_overdue" in [w["code"] for w in progress["warnings"]]

    m = share(
        client,
        cand,
        role="mentor",
        scope="comment",
        grantee_kind="account",
        email="menta@example.com",
    )
    accept(client, mentor, invitation_token(app, "menta@example.com"))
    recorded = client.post(
        f"{API}/shared/{m['id']}/meetings",
        headers=mentor,
        json={"meeting_date": (date.today() - timedelta(days=170)).isoformat(), "topics": "Plan"},
    )
    assert recorded.status_code == 201
    progress = client.get(f"{API}/progress", headers=cand).get_json()
    due = next(d for d in progress["deadlines"] if d["kind"] == "mentor_meeting")
    assert due["overdue"] is False
    codes = [w["code"] for w in progress["warnings"]]
    assert "mentor_meeting_due" in codes and "mentor_meeting_overdue" not in codes
    future = client.post(
        f"{API}/shared/{m['id']}/meetings",
        headers=mentor,
        json={"meeting_date": (date.today() + timedelta(days=3)).isoformat(), "topics": "Plan"},
    )
    assert future.status_code == 422


def test_meeting_due_reminder_job_mails_once_per_due_date(
    app: Flask, client: FlaskClient, auth: AuthActions, runner: FlaskCliRunner
) -> None:
    cand = auth.headers(auth.register("candi"))
    quiet = auth.headers(auth.register("quiet"))
    start = date.today() - timedelta(days=200)
    for headers in (cand, quiet):
        create_report(client, headers, start.isoformat(), (start + timedelta(days=180)).isoformat())
    mentor = share(
        client, cand, role="mentor", scope="comment", grantee_kind="link", email="m@example.com"
    )
    # A revoked mentor share reminds nobody.
    gone = share(
        client, quiet, role="mentor", scope="read", grantee_kind="link", email="q@example.com"
    )
    client.post(f"{API}/shares/{gone['id']}/revoke", headers=quiet)

    result = runner.invoke(args=["jobs", "run", "cpa_meeting_reminders"])
    assert result.exit_code == 0, result.output
    sent = mails(app, "cpa_meeting_due")
    assert [m["recipient"] for m in sent] == ["candi@example.com"]
    assert "was due on" in sent[0]["body"]
    runner.invoke(args=["jobs", "run", "cpa_meeting_reminders"])
    assert len(mails(app, "cpa_meeting_due")) == 1  # once per due date

    # A meeting recorded today moves the due date 6 months ahead: nothing to remind.
    recorded = client.post(
        f"{API}/links/{mentor['link_token']}/meetings",
        json={"meeting_date": date.today().isoformat(), "topics": "Plan"},
    )
    assert recorded.status_code == 201
    runner.invoke(args=["jobs", "run", "cpa_meeting_reminders"])
    assert len(mails(app, "cpa_meeting_due")) == 1


def test_refusals_of_the_candidate_side(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    cand = auth.headers(auth.register("candi"))
    mentor = auth.headers(auth.register("menta"))
    report = create_report(client, cand, "2024-01-01", "2024-06-30")
    empty = client.post(f"{API}/reports/{report['id']}/complete", headers=cand)
    assert empty.status_code == 409  # nothing to verify yet
    create_experience(client, cand, report["id"], "FR1", "2024-01-02")
    assert client.post(f"{API}/reports/{report['id']}/complete", headers=cand).status_code == 200
    assert client.post(f"{API}/reports/{report['id']}/complete", headers=cand).status_code == 409

    # An invitation for a share revoked (or expired) before it was accepted is 410.
    first = share(
        client,
        cand,
        report_id=report["id"],
        role="mentor",
        scope="comment",
        grantee_kind="account",
        email="menta@example.com",
    )
    token = invitation_token(app, "menta@example.com")
    client.post(f"{API}/shares/{first['id']}/revoke", headers=cand)
    late = client.post(f"{API}/share-invitations/accept", headers=mentor, json={"token": token})
    assert late.status_code == 410 and late.get_json()["reason"] == "revoked"
    # A link token is not an invitation token, and an invitation token opens no link.
    link = share(
        client, cand, role="mentor", scope="comment", grantee_kind="link", email="menta@example.com"
    )
    crossed = client.post(
        f"{API}/share-invitations/accept", headers=mentor, json={"token": link["link_token"]}
    )
    assert crossed.status_code == 404
    second = share(
        client,
        cand,
        role="mentor",
        scope="comment",
        grantee_kind="account",
        email="MENTA@example.com",
    )  # addresses match without regard to case
    token = invitation_token(app, "MENTA@example.com")
    assert client.get(f"{API}/links/{token}").status_code == 404
    accept(client, mentor, token)
    # Revoking twice is harmless; the grantee's list shows the share as revoked.
    for _ in range(2):
        again = client.post(f"{API}/shares/{second['id']}/revoke", headers=cand)
        assert again.status_code == 200 and again.get_json()["state"] == "revoked"
    mine = client.get(f"{API}/shared-with-me", headers=mentor).get_json()["items"]
    assert [(s["id"], s["state"]) for s in mine] == [(second["id"], "revoked")]
    assert client.get(f"{API}/shared/{second['id']}", headers=mentor).status_code == 410

    # A meeting is acknowledged once; paging through shares works.
    met = client.post(
        f"{API}/links/{link['link_token']}/meetings",
        json={"meeting_date": "2024-03-01", "topics": "Plan"},
    ).get_json()
    assert client.post(f"{API}/meetings/{met['id']}/acknowledge", headers=cand).status_code == 200
    assert client.post(f"{API}/meetings/{met['id']}/acknowledge", headers=cand).status_code == 409
    page = client.get(f"{API}/shares?limit=2", headers=cand).get_json()
    rest = client.get(f"{API}/shares?limit=2&cursor={page['next_cursor']}", headers=cand).get_json()
    ids = [s["id"] for s in page["items"] + rest["items"]]
    assert len(ids) == 3 and len(set(ids)) == 3 and rest["next_cursor"] is None
