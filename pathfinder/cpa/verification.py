"""Supervisor verification and program-leader certification, and PERT's report status.

PERT names four report statuses: New, Completed, Verified, Reviewed. Here they are derived,
not stored, so they can never disagree with what they summarise:

* **new**: the candidate has not marked the report completed (``completed_at`` is NULL);
* **completed**: marked completed, and not every current experience is verified;
* **verified**: every current experience's *current version* has a ``verified`` decision
  (EVR, by a supervisor) or a ``certified`` one (PPR, by a program leader);
* **reviewed**: a CPA reviewer's outcome is recorded (report status reviewed or accepted).

A decision names the experience version it was made on. An edit writes a new version
(:mod:`pathfinder.cpa.experiences`), which has no decision yet: the experience shows
``reverification_needed`` and the report falls back from verified to completed, without
any code having to remember to reset a flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import people_repo, repo
from pathfinder.cpa.errors import InvalidTransition, ShareScope, invalid
from pathfinder.cpa.experiences import lineage
from pathfinder.cpa.grants import Grant, record_access, utc
from pathfinder.cpa.service import iso, owned_report, touch_report, utcnow
from pathfinder.db import get_database
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields

TABLE = "pf_cpa_verifications"
APPROVING = ("verified", "certified")
# Which decision a report's route takes, and the scope that makes it.
ROUTE_DECISION = {"EVR": "verify", "PPR": "certify"}
APPROVED_AS = {"verify": "verified", "certify": "certified"}


def _decisions(conn: Connection, owner_id: str, report_id: str) -> list[dict[str, Any]]:
    rows = people_repo.report_decisions(conn, owner_id, report_id)
    return field_cipher(conn).open_rows(TABLE, rows, user_id=owner_id, tolerant=True)


def decision_json(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "experience_id": row["experience_id"],
        "decision": row["decision"],
        "role": row["role"],
        "comment": row.get("decision_note"),
        "share_id": row["share_id"],
        "decided_at": iso(utc(row["created_at"])),
        **unreadable_fields(row),
    }


def verification_picture(
    conn: Connection, owner_id: str, report: Mapping[str, Any]
) -> dict[str, Any]:
    """The report's PERT status and each current experience's verification state."""
    current = repo.current_experiences(conn, owner_id, report["id"], limit=None, after=None)
    graph = repo.version_graph(conn, owner_id, report["id"]) if current else []
    decisions = _decisions(conn, owner_id, report["id"])
    latest: dict[str, dict[str, Any]] = {}
    for row in decisions:
        latest[row["experience_id"]] = row  # ordered oldest first: the last one wins
    items = []
    for experience in current:
        mine = latest.get(experience["id"])
        if mine is not None:
            state = "verified" if mine["decision"] in APPROVING else "returned"
        else:
            earlier = [v["id"] for v in lineage(graph, experience["id"])[:-1]]
            approved_before = any(
                latest.get(v) is not None and latest[v]["decision"] in APPROVING for v in earlier
            )
            state = "reverification_needed" if approved_before else "unverified"
        items.append(
            {
                "experience_id": experience["id"],
                "version_number": experience["version_number"],
                "sub_competency_code": experience["sub_competency_code"],
                "experience_title": experience["experience_title"],
                "state": state,
                "last_decision": decision_json(mine),
            }
        )
    return {
        "report_id": report["id"],
        "route": report["route"],
        "pert_status": pert_status(report, items),
        "completed_at": iso(utc(report.get("completed_at"))),
        "experiences": items,
    }


def pert_status(report: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> str:
    if report["status"] in ("reviewed", "accepted"):
        return "reviewed"
    if report.get("completed_at") is None:
        return "new"
    if items and all(item["state"] == "verified" for item in items):
        return "verified"
    return "completed"


def report_verification(principal: Principal, report_id: str) -> dict[str, Any]:
    """My report's PERT status and verification state, experience by experience."""
    with get_database().transaction() as conn:
        report = owned_report(conn, principal, report_id)
        return verification_picture(conn, principal.user_id, report)


def complete_report(principal: Principal, report_id: str) -> dict[str, Any]:
    """New -> Completed: the report is ready for its supervisor or program leader."""
    now = utcnow()
    with get_database().transaction() as conn:
        repo.lock_owner(conn, principal.user_id)
        report = owned_report(conn, principal, report_id)
        if report.get("completed_at") is not None:
            raise InvalidTransition("The report is already completed.")
        if not repo.current_experiences(conn, principal.user_id, report_id, limit=1, after=None):
            raise InvalidTransition("Add at least one experience before completing the report.")
        report = touch_report(conn, report, now, completed_at=now)
        audit.record(
            conn,
            "sensitive_update",
            actor=principal,
            target_type="cpa_report",
            target_id=report_id,
            details={"pert_status": "completed"},
        )
        return verification_picture(conn, principal.user_id, report)


def decide(
    conn: Connection, grant: Grant, experience_id: str, decision: str, comment: str | None
) -> dict[str, Any]:
    """Record a supervisor's or program leader's decision on the current version."""
    now = utcnow()
    repo.lock_owner(conn, grant.owner_id)
    row = repo.get_experience(conn, grant.owner_id, experience_id)
    if row is None or row["deleted_at"] is not None:
        raise NotFound("No such experience.")
    report = repo.get_report(conn, grant.owner_id, row["report_id"])
    if report is None or not grant.covers_report(report["id"]):
        raise NotFound("No such experience.")
    needed = ROUTE_DECISION[report["route"]]
    if not grant.allows(needed):
        raise ShareScope(
            f"This {report['route']} report is {needed}-ied through a share with the "
            f"{needed} scope; this share's scope is {grant.scope!r}.",
            scope=grant.scope,
            needed=needed,
        )
    if report.get("completed_at") is None:
        raise InvalidTransition("The candidate has not marked this report completed yet.")
    if not row["is_current_version"]:
        raise InvalidTransition(
            "Decisions are made on the current version of an experience; reload it."
        )
    if decision == "return" and not comment:
        raise invalid("comment", "say what to change when returning an experience")
    stored = "returned" if decision == "return" else APPROVED_AS[needed]
    before = verification_picture(conn, grant.owner_id, report)["pert_status"]
    values = {
        "id": new_id(),
        "user_id": grant.owner_id,
        "report_id": report["id"],
        "experience_id": row["id"],
        "share_id": grant.share_id,
        "role": grant.role,
        "decision": stored,
        "decision_note": comment,
        "row_version": FIRST_ROW_VERSION,
        "decided_by_user_id": grant.grantee_user_id,
        "created_at": now,
    }
    people_repo.insert_verification(
        conn, field_cipher(conn).seal_row(TABLE, values, user_id=grant.owner_id)
    )
    report = touch_report(conn, dict(report), now)
    record_access(conn, grant, stored, "cpa_experience", row["id"], now, event="sensitive_update")
    picture = verification_picture(conn, grant.owner_id, report)
    email = str(people_repo.user_email(conn, grant.owner_id))
    title = f"{report['position_title']} at {report['employer_name']}"
    if stored == "returned":
        get_mailer().queue(
            conn,
            Message(
                recipient=email,
                template="cpa_report_returned",
                subject="An experience of your CPA report was returned",
                body=(
                    f"Your {grant.role.replace('_', ' ')} returned the experience "
                    f'"{row["experience_title"]}" of your report {title} with a comment. '
                    "Sign in to Pathfinder to read it, edit the experience and ask for "
                    "verification again.\n"
                ),
            ),
        )
    elif picture["pert_status"] == "verified" and before != "verified":
        get_mailer().queue(
            conn,
            Message(
                recipient=email,
                template="cpa_report_verified",
                subject="Your CPA report is verified",
                body=(
                    f"Every experience of your report {title} is now {stored} by your "
                    f"{grant.role.replace('_', ' ')}.\n"
                ),
            ),
        )
    return {"decision": decision_json(values), "verification": picture}
