"""The console's pages act through the API's services: the same rules, the same audit rows,
errors beside the field, and a confirmation for every destructive action."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask.testing import FlaskClient

from pathfinder.db import Database
from pathfinder.schema.shared.identity import users
from pathfinder.schema.shared.jobs import job_runs
from tests.admin import audit_events, link_token, mails
from tests.conftest import AuthActions
from tests.console import Browser, console_admin, text_of


def status_of(db: Database, user_id: str) -> str:
    with db.transaction() as conn:
        return str(
            conn.execute(
                sa.select(users.c.account_status).where(users.c.id == user_id)
            ).scalar_one()
        )


def test_users_search_and_lifecycle(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    browser = console_admin(auth, client, "boss")
    for name in ("anna", "bruno"):
        auth.register(name)
    anna = auth.user_id("anna")
    found = text_of(browser.get("/console/users?q=ann"))
    assert "anna@example.com" in found and "bruno" not in found
    assert browser.get("/console/users?status=gone").status_code == 422
    page = text_of(browser.get(f"/console/users/{anna}"))
    assert "Live sessions" in page and 'for="suspend-reason"' in page
    assert page.count("Not signed in anywhere") == 0 and "127.0.0.1" in page

    unconfirmed = browser.post(f"/console/users/{anna}/suspend", {"reason": "spam"})
    assert unconfirmed.status_code == 422
    assert 'id="suspend-confirm-error"' in text_of(unconfirmed)
    assert status_of(db, anna) == "active"
    no_reason = browser.post(f"/console/users/{anna}/suspend", {"confirm": "yes"})
    assert no_reason.status_code == 422 and 'id="suspend-reason-error"' in text_of(no_reason)

    done = browser.post(f"/console/users/{anna}/suspend", {"reason": "spam", "confirm": "yes"})
    assert done.status_code == 302 and "notice=" in done.headers["Location"]
    assert status_of(db, anna) == "suspended"
    assert "Not signed in anywhere" in text_of(browser.get(f"/console/users/{anna}"))
    suspended = audit_events(db, "user_suspended")[-1]
    assert suspended["actor_id"] == auth.user_id("boss") and suspended["target_id"] == anna
    assert browser.post(f"/console/users/{anna}/reactivate", {}).status_code == 302
    assert status_of(db, anna) == "active"

    reset = browser.post(
        f"/console/users/{anna}/password-reset", {"reason": "asked by phone", "confirm": "yes"}
    )
    assert reset.status_code == 302 and mails(db, "anna@example.com", "password_reset") != []
    # The services' rules hold: an admin does not act on themself or on an equal.
    me = auth.user_id("boss")
    own = browser.post(f"/console/users/{me}/suspend", {"reason": "x", "confirm": "yes"})
    assert own.status_code == 409 and 'role="alert"' in text_of(own)
    assert browser.get("/console/deletions").status_code == 200


def test_site_admin_changes_a_role(client: FlaskClient, auth: AuthActions) -> None:
    browser = console_admin(auth, client, "chief", role="site_admin")
    auth.register("carla")
    carla = auth.user_id("carla")
    page = text_of(browser.get(f"/console/users/{carla}"))
    assert f'action="/console/users/{carla}/role"' in page
    changed = browser.post(f"/console/users/{carla}/role", {"role": "admin", "confirm": "yes"})
    assert changed.status_code == 302
    assert "<dt>Role</dt><dd>admin</dd>" in text_of(browser.get(f"/console/users/{carla}"))


def test_invitations(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    browser = console_admin(auth, client, "boss")
    auth.register("taken")
    created = browser.post(
        "/console/invitations",
        {"emails": "new1@example.com\ntaken@example.com\nnew1@example.com", "role": "user"},
    )
    assert created.status_code == 302
    notice = created.headers["Location"]
    assert "1+invited" in notice and "already_registered" in notice
    assert "duplicate_in_request" in notice
    refused = browser.post("/console/invitations", {"emails": "x@example.com", "role": "admin"})
    assert refused.status_code == 403  # only a site admin grants admin
    bad = browser.post("/console/invitations", {"emails": "", "role": "user"})
    assert bad.status_code == 422 and 'id="f-emails-error"' in text_of(bad)

    csv = b"email,role\nnew2@example.com,user\nnew1@example.com,user\ntaken@example.com,user\n"
    preview = browser.post(
        "/console/invitations/csv",
        {"file": (__import__("io").BytesIO(csv), "people.csv")},
        content_type="multipart/form-data",
    )
    page = text_of(preview)
    assert preview.status_code == 200 and "1 will be invited, 2 skipped" in page
    assert "skipped: already invited" in page and "skipped: already registered" in page
    assert mails(db, "new2@example.com") == []  # a preview sends nothing
    sent = browser.post("/console/invitations/csv", {"step": "create", "csv_text": csv.decode()})
    assert sent.status_code == 302 and mails(db, "new2@example.com") != []

    listing = text_of(browser.get("/console/invitations?status=pending"))
    assert "new1@example.com" in listing and "new2@example.com" in listing
    invitation_id = re.search(r"/console/invitations/([0-9A-Z]{26})/revoke", listing).group(1)
    assert browser.post(f"/console/invitations/{invitation_id}/revoke").status_code == 422
    revoked = browser.post(f"/console/invitations/{invitation_id}/revoke", {"confirm": "yes"})
    assert revoked.status_code == 302
    assert "revoked" in text_of(browser.get("/console/invitations?status=revoked"))
    resend_id = re.search(
        r"/console/invitations/([0-9A-Z]{26})/resend",
        text_of(browser.get("/console/invitations?status=pending")),
    ).group(1)
    assert browser.post(f"/console/invitations/{resend_id}/resend").status_code == 302


def test_accept_an_invitation(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    browser = console_admin(auth, client, "boss")
    browser.post("/console/invitations", {"emails": "guest@example.com", "role": "user"})
    token = link_token(mails(db, "guest@example.com")[-1]["body"], "invitations")
    guest = Browser(client.application.test_client())
    page = guest.get(f"/console/join/{token}")
    assert page.status_code == 200 and "guest@example.com" in text_of(page)
    weak = guest.post(f"/console/join/{token}", {"username": "guest", "password": "short"})
    assert weak.status_code == 422 and "error" in text_of(weak)
    # The form is checked as the API checks it, rules included: a name too long and a
    # password naming the username are shown together, each beside its field.
    both = guest.post(
        f"/console/join/{token}",
        {"username": "guest9", "password": "guest9-harbour-lantern", "first_name": "x" * 101},
    )
    assert both.status_code == 422
    shown = both.get_data(as_text=True)
    assert 'id="f-first_name-error"' in shown and 'id="f-password-error"' in shown
    assert "must not contain the username" in shown
    done = guest.post(
        f"/console/join/{token}", {"username": "guest", "password": "a long enough passphrase 9"}
    )
    assert done.status_code == 200 and "is ready" in text_of(done)
    assert auth.login("guest", "a long enough passphrase 9")["access_token"]
    assert guest.get(f"/console/join/{token}").status_code == 404  # used once
    from pathfinder.schema.shared.security import audit_log

    with db.transaction() as conn:
        paths = (
            conn.execute(
                sa.select(audit_log.c.request_path).where(
                    audit_log.c.request_path.like("/console/j%")
                )
            )
            .scalars()
            .all()
        )
    assert paths and all(token not in p for p in paths)


def test_flags_groups_overrides_and_explain(client: FlaskClient, auth: AuthActions) -> None:
    browser = console_admin(auth, client, "boss")
    auth.register("tester")
    assert browser.post("/console/groups", {"name": "beta", "priority": "10"}).status_code == 302
    group_id = re.search(
        r'value="([0-9A-Z]{26})"\s*>beta',
        text_of(browser.get(f"/console/users/{auth.user_id('tester')}")),
    ).group(1)
    assert (
        browser.post(
            f"/console/users/{auth.user_id('tester')}/group", {"group_id": group_id}
        ).status_code
        == 302
    )

    bad = browser.post(
        "/console/flags",
        {"flag_key": "Bad Key", "name": "x", "flag_type": "boolean", "default_value": "false"},
    )
    assert bad.status_code == 422 and 'id="flag-key-error"' in text_of(bad)
    made = browser.post(
        "/console/flags",
        {
            "flag_key": "new_editor",
            "name": "New editor",
            "flag_type": "boolean",
            "default_value": "false",
            "enabled": "yes",
        },
    )
    assert made.status_code == 302
    wrong_type = browser.post(
        "/console/flags/new_editor/overrides",
        {"target": "group", "group_id": group_id, "value": '"yes"', "reason": "beta"},
    )
    assert wrong_type.status_code == 422 and 'id="ov-value-error"' in text_of(wrong_type)
    override = browser.post(
        "/console/flags/new_editor/overrides",
        {
            "target": "group",
            "group_id": group_id,
            "value": "true",
            "reason": "beta testers",
            "expires_at": "2099-01-01T00:00",
        },
    )
    assert override.status_code == 302
    page = text_of(browser.get("/console/flags/new_editor"))
    override_id = re.search(r"/console/flags/new_editor/overrides/([0-9A-Z]{26})\"", page).group(1)
    past = browser.post(
        f"/console/flags/new_editor/overrides/{override_id}",
        {"value": "true", "reason": "beta testers", "expires_at": "2001-01-01T00:00"},
    )
    assert past.status_code == 422 and f'id="edit-expires-{override_id}-error"' in text_of(past)
    kept = browser.post(
        f"/console/flags/new_editor/overrides/{override_id}",
        {"value": "true", "reason": "beta testers, extended", "expires_at": "2098-06-01T12:00"},
    )
    assert kept.status_code == 302
    assert "beta testers, extended" in text_of(browser.get("/console/flags/new_editor"))
    explained = text_of(browser.get("/console/flags/new_editor?user=tester"))
    assert "value <code>true</code>, because of <strong>group override</strong>" in explained
    plain = text_of(browser.get("/console/flags/new_editor?user=boss"))
    assert "value <code>false</code>, because of <strong>default</strong>" in plain
    unknown = browser.get("/console/flags/new_editor?user=nobody")
    assert unknown.status_code == 404 and 'id="explain-user-error"' in text_of(unknown)
    changed = browser.post(
        "/console/flags/new_editor",
        {"name": "New editor", "default_value": "true", "rollout_percentage": "0"},
    )
    assert changed.status_code == 302
    assert "<strong>disabled</strong>" in text_of(
        browser.get("/console/flags/new_editor?user=boss")
    )
    assert browser.post("/console/flags/new_editor/delete").status_code == 422
    assert browser.post("/console/flags/new_editor/delete", {"confirm": "yes"}).status_code == 302
    system = browser.post("/console/flags/maintenance_mode/delete", {"confirm": "yes"})
    assert system.status_code in (409, 422)


def test_tenants_verify_and_repair(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    browser = console_admin(auth, client, "chief", role="site_admin")
    auth.register("rita")
    listing = text_of(browser.get("/console/tenants?state=ready&q=ri"))
    assert "/console/tenants/rita" in listing and "/console/tenants/chief" not in listing
    assert "Latest template version" in listing
    page = text_of(browser.get("/console/tenants/rita"))
    assert "pf_user_rita_" in page
    verified = text_of(browser.post("/console/tenants/rita/verify"))
    assert "Clean:" in verified
    assert browser.post("/console/tenants/rita/repair").status_code == 422
    repaired = browser.post("/console/tenants/rita/repair", {"confirm": "yes"})
    assert repaired.status_code == 200 and "Clean:" in text_of(repaired)
    assert audit_events(db, "sys_dba_action")[-1]["target_display"] == "rita"
    assert browser.get("/console/tenants/nobody").status_code == 404


def test_audit_search_and_row(client: FlaskClient, auth: AuthActions) -> None:
    browser = console_admin(auth, client, "boss")
    found = text_of(browser.get("/console/audit?user=boss&event_type=authn_login_success"))
    seq = re.search(r"/console/audit/(\d+)", found).group(1)
    row = text_of(browser.get(f"/console/audit/{seq}"))
    assert "authn_login_success" in row and "Details" in row
    assert browser.get("/console/audit?event_type=nope").status_code == 422
    assert browser.get("/console/audit?user=nobody").status_code == 422
    assert browser.get("/console/audit/999999").status_code == 404
    assert "Latest checkpoint" in found


def test_jobs_and_run_now(client: FlaskClient, auth: AuthActions, db: Database) -> None:
    browser = console_admin(auth, client, "chief", role="site_admin")
    assert "session_cleanup" in text_of(browser.get("/console/jobs"))
    ran = browser.post("/console/jobs/session_cleanup/run")
    assert ran.status_code == 302 and "succeeded" in ran.headers["Location"]
    with db.transaction() as conn:
        triggers = conn.execute(sa.select(job_runs.c.triggered_by)).scalars().all()
    assert "console" in triggers
    assert audit_events(db, "sys_dba_action")[-1]["details"]["job"] == "session_cleanup"
    assert browser.post("/console/jobs/nothing/run").status_code == 422


def test_dashboard_charts(client: FlaskClient, auth: AuthActions) -> None:
    browser = console_admin(auth, client, "boss")
    page = text_of(browser.get("/console/?days=7"))
    assert page.count("<svg") == 2 and '<title id="active-t">Active users</title>' in page
    assert browser.post("/console/stats/refresh").status_code == 302
    assert "Monthly active" in text_of(browser.get("/console/"))


def test_chart_axis_steps_are_whole_numbers() -> None:
    from pathfinder.console.charts import _nice_max, bar_chart

    assert [_nice_max(v) for v in (0, 3, 5, 9, 17, 230)] == [4, 4, 8, 12, 20, 300]
    svg = str(bar_chart([("a", 3), ("<b>", 7)], title="T & U", chart_id="c"))
    assert "&lt;b&gt;" in svg and "T &amp; U" in svg and 'role="img"' in svg
