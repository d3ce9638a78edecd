"""Invitations end to end: create, e-mail, look up, accept once, revoke, resend, jobs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pathfinder.admin.invitations import expire_invitations, send_invitation_reminders
from pathfinder.db import Database
from pathfinder.schema.shared.identity import user_invitations, users
from tests.admin import admin, audit_events, link_token, mails, problem
from tests.conftest import DEFAULT_PASSWORD, AuthActions

INVITES = "/api/v1/admin/invitations"


def invite(client: FlaskClient, headers: dict[str, str], *items: dict[str, Any]) -> Any:
    return client.post(INVITES, headers=headers, json={"invitations": list(items)})


def token_for(db: Database, email: str) -> str:
    sent = mails(db, email, "invitation")
    assert sent, f"no invitation mail to {email}"
    return link_token(sent[-1]["body"], "invitations")


def accept(client: FlaskClient, token: str, username: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/invitations/{token}/accept",
        json={"username": username, "password": DEFAULT_PASSWORD, **extra},
    )


def user_row(db: Database, username: str) -> dict[str, Any]:
    with db.transaction() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
    return dict(row)


def invitation_row(db: Database, invitation_id: str) -> dict[str, Any]:
    with db.transaction() as conn:
        return dict(
            conn.execute(sa.select(user_invitations).where(user_invitations.c.id == invitation_id))
            .mappings()
            .one()
        )


def test_invite_look_up_and_accept_with_role_and_group(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "site_boss", "site_admin")
    with db.transaction() as conn:
        conn.execute(
            users.update()
            .where(users.c.username == "site_boss")
            .values(first_name="Ada", last_name="Lovelace")
        )
    group = client.post("/api/v1/admin/groups", headers=boss, json={"name": "pilot", "priority": 5})
    group_id = group.get_json()["id"]
    made = invite(
        client,
        boss,
        {"email": "New.Person@Example.com", "role": "admin", "feature_group_id": group_id},
    )
    assert made.status_code == 201, made.get_json()
    created = made.get_json()["created"][0]
    assert created["status"] == "pending" and "token" not in str(made.get_json()).lower()
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    token = token_for(db, "New.Person@Example.com")
    # Only the hash is stored.
    assert token not in str(invitation_row(db, created["id"]))
    shown = client.get(f"/api/v1/invitations/{token}")
    assert shown.status_code == 200
    assert shown.get_json() == {"email": "New.Person@Example.com", "invited_by": "Ada Lovelace"}

    accepted = accept(client, token, "newperson", first_name="New")
    assert accepted.status_code == 201, accepted.get_json()
    me = client.get("/api/v1/me", headers=auth.headers(accepted.get_json()))
    assert me.get_json()["role"] == "admin"
    row = user_row(db, "newperson")
    assert row["feature_group_id"] == group_id and row["email"] == "New.Person@Example.com"
    stored = invitation_row(db, created["id"])
    assert stored["status"] == "accepted" and stored["accepted_user_id"] == row["id"]

    again = accept(client, token, "someone_else")
    assert again.status_code == 404 and problem(again)["type"].endswith("invalid-invitation")
    assert client.get(f"/api/v1/invitations/{token}").status_code == 404
    assert [r["target_id"] for r in audit_events(db, "user_invited")] == [created["id"]]
    assert "New.Person" not in str(audit_events(db, "user_invited"))


def test_accepting_through_register_also_applies_the_role(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "site_boss", "site_admin")
    assert (
        invite(client, boss, {"email": "reg@example.com", "role": "site_admin"}).status_code == 201
    )
    token = token_for(db, "reg@example.com")
    wrong_address = client.post(
        "/api/v1/auth/register",
        json={
            "username": "reg",
            "email": "other@example.com",
            "password": DEFAULT_PASSWORD,
            "invitation_token": token,
        },
    )
    assert wrong_address.status_code == 422
    done = client.post(
        "/api/v1/auth/register",
        json={
            "username": "reg",
            "email": "reg@example.com",
            "password": DEFAULT_PASSWORD,
            "invitation_token": token,
        },
    )
    assert done.status_code == 201, done.get_json()
    assert user_row(db, "reg")["role"] == "site_admin"


def test_only_site_admins_grant_roles_by_invitation(client: FlaskClient, auth: AuthActions) -> None:
    boss = admin(auth, "plain_admin", "admin")
    refused = invite(client, boss, {"email": "a@example.com", "role": "admin"})
    assert refused.status_code == 403 and problem(refused)["type"].endswith("role-not-allowed")
    assert invite(client, boss, {"email": "a@example.com"}).status_code == 201


def test_batch_skips_and_validation(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "plain_admin")
    auth.register("taken")
    assert invite(client, boss, {"email": "first@example.com"}).status_code == 201
    batch = invite(
        client,
        boss,
        {"email": "fresh@example.com", "expires_in_days": 1},
        {"email": "FRESH@example.com"},
        {"email": "taken@example.com"},
        {"email": "first@example.com"},
    )
    assert batch.status_code == 201, batch.get_json()
    body = batch.get_json()
    assert [c["email"] for c in body["created"]] == ["fresh@example.com"]
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (1, "duplicate_in_request"),
        (2, "already_registered"),
        (3, "already_invited"),
    ]
    assert len(mails(db, "fresh@example.com", "invitation")) == 1

    nothing = invite(client, boss, {"email": "taken@example.com"})
    assert nothing.status_code == 409 and problem(nothing)["skipped"][0]["reason"] == (
        "already_registered"
    )
    too_many = invite(client, boss, *({"email": f"u{n}@example.com"} for n in range(101)))
    assert too_many.status_code == 422
    bad = invite(client, boss, {"email": "ok@example.com"}, {"email": "not-an-address"})
    assert bad.status_code == 422
    assert problem(bad)["errors"][0]["field"] == "invitations.1.email"
    assert (
        invite(client, boss, {"email": "x@example.com", "expires_in_days": 31}).status_code == 422
    )
    assert invite(client, boss, {"email": "x@example.com", "expires_in_days": 0}).status_code == 422
    no_group = invite(
        client, boss, {"email": "x@example.com", "feature_group_id": "01J00000000000000000000000"}
    )
    assert no_group.status_code == 422
    assert problem(no_group)["errors"][0]["field"] == "invitations.0.feature_group_id"
    assert client.post(INVITES, headers=boss, json={"invitations": []}).status_code == 422
    assert mails(db, "x@example.com") == [] and mails(db, "ok@example.com") == []


def test_csv_upload(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "plain_admin")
    group = client.post("/api/v1/admin/groups", headers=boss, json={"name": "Cohort A"})
    text = "email,group,expires_in_days\ncsv1@example.com,Cohort A,3\n\ncsv2@example.com,,\n"
    made = client.post(
        f"{INVITES}/csv", headers={**boss, "Content-Type": "text/csv"}, data=text.encode()
    )
    assert made.status_code == 201, made.get_json()
    created = made.get_json()["created"]
    assert [c["email"] for c in created] == ["csv1@example.com", "csv2@example.com"]
    assert created[0]["feature_group_id"] == group.get_json()["id"]
    assert created[1]["feature_group_id"] is None

    upload = client.post(
        f"{INVITES}/csv",
        headers=boss,
        content_type="multipart/form-data",
        data={"file": (BytesIO(b"email\ncsv3@example.com\n"), "list.csv")},
    )
    assert upload.status_code == 201, upload.get_json()
    assert token_for(db, "csv3@example.com")

    def refused(data: bytes) -> dict[str, Any]:
        response = client.post(
            f"{INVITES}/csv", headers={**boss, "Content-Type": "text/csv"}, data=data
        )
        assert response.status_code == 422, response.get_json()
        return problem(response)

    assert refused(b"address\nx@example.com\n")["errors"][0]["field"] == "file"
    assert refused(b"email\n")["errors"][0]["message"] == "empty"
    assert refused(b"email,role\ny@example.com,admin\nbad,user\n")["errors"][0]["field"] == (
        "rows.2.email"
    )
    assert refused(b"email,group\nz@example.com,Nope\n")["errors"][0]["field"] == "rows.1.group"
    assert refused(b"email\n" + b"".join(b"r%d@example.com\n" % n for n in range(101)))
    assert refused(b"\xff\xfe")["errors"][0]["message"] == "not UTF-8"
    # PostgreSQL cannot store NUL: refused as input, not a 500 at the insert.
    assert "NUL" in refused(b"email\nx\x00y@example.com\n")["errors"][0]["message"]


def test_list_revoke_resend(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    boss = admin(auth, "plain_admin")
    ids = {}
    for name in ("pend", "revo", "expi", "acce"):
        response = invite(client, boss, {"email": f"{name}@example.com"})
        ids[name] = response.get_json()["created"][0]["id"]
    assert client.post(f"{INVITES}/{ids['revo']}/revoke", headers=boss).status_code == 200
    with db.transaction() as conn:  # time passes for one of them
        conn.execute(
            user_invitations.update()
            .where(user_invitations.c.id == ids["expi"])
            .values(
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
                created_at=datetime.now(UTC) - timedelta(days=8),
            )
        )
    assert accept(client, token_for(db, "acce@example.com"), "acce").status_code == 201

    def listed(query: str) -> list[str]:
        response = client.get(f"{INVITES}?{query}", headers=boss)
        assert response.status_code == 200, response.get_json()
        return [i["id"] for i in response.get_json()["items"]]

    assert listed("status=pending") == [ids["pend"]]
    assert listed("status=revoked") == [ids["revo"]]
    assert listed("status=expired") == [ids["expi"]]  # before any job has run
    assert listed("status=accepted") == [ids["acce"]]
    assert listed("email=EXPI") == [ids["expi"]]
    page = client.get(f"{INVITES}?limit=3", headers=boss).get_json()
    rest = client.get(f"{INVITES}?limit=3&cursor={page['next_cursor']}", headers=boss).get_json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [
        ids["acce"],
        ids["expi"],
        ids["revo"],
        ids["pend"],
    ]
    assert client.get(f"{INVITES}?status=lost", headers=boss).status_code == 422

    # Revoked: its link is dead, and it cannot be revoked or resent again.
    assert client.get(f"/api/v1/invitations/{token_for(db, 'revo@example.com')}").status_code == 404
    assert client.post(f"{INVITES}/{ids['revo']}/revoke", headers=boss).status_code == 409
    assert client.post(f"{INVITES}/{ids['revo']}/resend", headers=boss, json={}).status_code == 409
    assert client.post(f"{INVITES}/{ids['acce']}/resend", headers=boss, json={}).status_code == 409
    unknown = "01J00000000000000000000000"
    assert client.post(f"{INVITES}/{unknown}/revoke", headers=boss).status_code == 404

    # Resending an expired invitation: new token, new expiry, the old link stays dead.
    old = token_for(db, "expi@example.com")
    resent = client.post(
        f"{INVITES}/{ids['expi']}/resend", headers=boss, json={"expires_in_days": 2}
    )
    assert resent.status_code == 200, resent.get_json()
    assert resent.get_json()["status"] == "pending"
    new = token_for(db, "expi@example.com")
    assert new != old
    assert client.get(f"/api/v1/invitations/{old}").status_code == 404
    assert client.get(f"/api/v1/invitations/{new}").status_code == 200
    assert (
        client.post(
            f"{INVITES}/{ids['pend']}/resend", headers=boss, json={"expires_in_days": 40}
        ).status_code
        == 422
    )


def test_an_invitation_is_accepted_once_under_concurrency(
    app: Flask, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "plain_admin")
    assert invite(app.test_client(), boss, {"email": "race@example.com"}).status_code == 201
    token = token_for(db, "race@example.com")
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def attempt(username: str) -> None:
        client = app.test_client()
        barrier.wait()
        statuses[username] = accept(client, token, username).status_code

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("racer_a", "racer_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses.values())[0] == 201, statuses
    assert sorted(statuses.values())[1] in (401, 404, 409), statuses
    with db.transaction() as conn:
        winners = (
            conn.execute(
                sa.select(users.c.username).where(users.c.email_normalized == "race@example.com")
            )
            .scalars()
            .all()
        )
    assert len(winners) == 1 and statuses[winners[0]] == 201


def test_reminder_and_expiry_jobs(
    app: Flask, client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "plain_admin")
    soon = invite(client, boss, {"email": "soon@example.com", "expires_in_days": 1})
    later = invite(client, boss, {"email": "later@example.com", "expires_in_days": 10})
    soon_id = soon.get_json()["created"][0]["id"]
    now = datetime.now(UTC)
    with app.app_context():
        assert send_invitation_reminders(db, now) == 1
        assert send_invitation_reminders(db, now) == 0  # one reminder, ever
    reminder = mails(db, "soon@example.com", "invitation_reminder")
    assert len(reminder) == 1
    assert "/invitations/" not in reminder[0]["body"]  # the token was sent once, only
    assert mails(db, "later@example.com", "invitation_reminder") == []
    assert invitation_row(db, soon_id)["reminder_sent_at"] is not None

    with app.app_context():
        assert expire_invitations(db, now + timedelta(days=2)) == 1
        assert expire_invitations(db, now + timedelta(days=2)) == 0
    assert invitation_row(db, soon_id)["status"] == "expired"
    assert invitation_row(db, later.get_json()["created"][0]["id"])["status"] == "pending"
    assert client.get(f"/api/v1/invitations/{token_for(db, 'soon@example.com')}").status_code == 404
    assert client.get("/api/v1/invitations/not-a-real-token").status_code == 404


def test_the_invitee_can_decline_and_the_inviter_sees_it(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "decline_boss")
    created = invite(client, boss, {"email": "no.thanks@example.com"}).get_json()["created"][0]
    token = token_for(db, "no.thanks@example.com")
    declined = client.post(f"/api/v1/invitations/{token}/decline")
    assert declined.status_code == 200, declined.get_json()
    assert declined.get_json()["status"] == "declined"
    assert client.get(f"/api/v1/invitations/{token}").status_code == 404
    assert accept(client, token, "nothanks").status_code == 404
    again = client.post(f"/api/v1/invitations/{token}/decline")
    assert again.status_code == 404 and problem(again)["type"].endswith("invalid-invitation")
    listed = client.get(INVITES, headers=boss).get_json()["items"]
    shown = next(i for i in listed if i["id"] == created["id"])
    assert shown["status"] == "declined" and shown["declined_at"]
    stored = invitation_row(db, created["id"])
    assert stored["status"] == "revoked" and stored["declined_at"] is not None
    (row,) = [r for r in audit_events(db, "authn_token_revoked") if r["target_id"] == created["id"]]
    assert row["details"]["declined"] is True
    assert client.post("/api/v1/invitations/not-a-token/decline").status_code == 404


def test_an_accepted_invitation_records_who_invited(
    client: FlaskClient, auth: AuthActions, db: Database
) -> None:
    boss = admin(auth, "inviter_boss")
    invite(client, boss, {"email": "welcome@example.com"})
    accepted = accept(client, token_for(db, "welcome@example.com"), "welcomed")
    assert accepted.status_code == 201, accepted.get_json()
    row = user_row(db, "welcomed")
    assert row["invited_by"] == auth.user_id("inviter_boss")
    assert row["invitation_accepted_at"] is not None
    shown = client.get(f"/api/v1/admin/users/{row['id']}", headers=boss).get_json()
    assert shown["invited_by"] == row["invited_by"] and shown["invitation_accepted_at"]
