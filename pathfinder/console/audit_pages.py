"""Audit: search with filters, one row, the latest verification run and checkpoint."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue

from pathfinder.admin import users as user_admin
from pathfinder.api.errors import NotFound, Problem
from pathfinder.audit import search
from pathfinder.audit.events import EVENTS
from pathfinder.audit.routes import AuditQuery
from pathfinder.console.blueprint import bp, page
from pathfinder.console.flag_pages import utc_time
from pathfinder.console.forms import FormErrors, parse, problem_errors


def _user_id(who: str | None) -> str | None:
    """A user named by id, username or e-mail (rows of deleted users keep only the id)."""
    if not who:
        return None
    if len(who) == 26 and who.isalnum() and who.upper() == who:
        return who
    return user_admin.user_id_by_login(who)


@bp.get("/audit", endpoint="audit")
@page("admin")
def audit_page() -> ResponseReturnValue:
    """The audit log, newest first, by user, event type and time range."""
    keys = ("user", "event_type", "since", "until", "cursor")
    args = {k: v.strip() for k, v in request.args.items() if v.strip() and k in keys}
    errors: dict[str, str] = {}
    found: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        query = parse(
            AuditQuery,
            {
                "user_id": _user_id(args.get("user")),
                "event_type": args.get("event_type"),
                "since": utc_time(args.get("since")),
                "until": utc_time(args.get("until")),
                "cursor": args.get("cursor"),
                "limit": 50,
            },
        )
        where = search.AuditFilter(query.user_id, query.event_type, query.since, query.until)
        found = search.search(where, cursor=query.cursor, limit=query.limit)
    except FormErrors as exc:
        errors = {("user" if k == "user_id" else k): v for k, v in exc.errors.items()}
    except Problem as exc:
        errors = {"user": next(iter(problem_errors(exc).values()))}
    return render_template(
        "console/audit.html",
        found=found,
        args=args,
        errors=errors,
        events=sorted(EVENTS),
        integrity=search.integrity_status(),
    ), (422 if errors else 200)


@bp.get("/audit/<int:seq>")
@page("admin")
def audit_row(seq: int) -> ResponseReturnValue:
    """One audit row, every public column, its details as JSON."""
    row = search.one_row(seq)
    if row is None:
        raise NotFound("No such audit row.")
    return render_template("console/audit_row.html", row=row, meaning=EVENTS.get(row["event_type"]))
