"""What a grantee reaches through a share: the routes' entry points for both kinds.

An account grantee comes as a signed-in principal naming the share; a link grantee comes
with the link token. Either way the grant is resolved first, in the request's own
transaction (:mod:`pathfinder.cpa.grants`), then only what it names is read: the shared
report (or, for a whole-record share, the candidate's reports), their current experiences,
decisions, comments and, for a mentor, the meetings written through that share. Nothing
here reads career data, chat, analytics or drafts, and every read is recorded for the
candidate's "who saw what".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import comments, meetings, people_repo, repo, verification
from pathfinder.cpa.experiences import experience_json
from pathfinder.cpa.grants import Grant, account_grant, link_grant, record_access
from pathfinder.cpa.paging import CpaPageQuery, decode_cursor, page_body, paginate
from pathfinder.cpa.schemas import CommentCreate, CommentResolve, Decision, MeetingCreate
from pathfinder.cpa.service import framework_for, report_json, utcnow
from pathfinder.cpa.sharing import granted_json
from pathfinder.db import get_database
from pathfinder.security.fields import field_cipher

T = TypeVar("T")
EXPERIENCE_TABLE = "pf_cpa_pert_experiences"


@dataclass(frozen=True)
class GrantKey:
    """How the caller names the share: an account and a share id, or a link token."""

    principal: Principal | None = None
    share_id: str | None = None
    token: str | None = None


@contextmanager
def granted(key: GrantKey) -> Iterator[tuple[Connection, Grant]]:
    """One transaction with the caller's live grant (404 not theirs, 410 ended)."""
    now = utcnow()
    with get_database().transaction() as conn:
        if key.principal is not None and key.share_id is not None:
            grant = account_grant(conn, key.principal, key.share_id, now)
        elif key.token is not None:
            grant = link_grant(conn, key.token, now)
        else:  # pragma: no cover - the routes always give one
            raise NotFound("No such share.")
        yield conn, grant


def grant_exists(key: GrantKey) -> None:
    with granted(key):
        pass


def report_reachable(key: GrantKey, report_id: str) -> None:
    """404 unless the report is one the live share covers (410 when it ended)."""
    with granted(key) as (conn, grant):
        _covered_report(conn, grant, report_id)


def experience_reachable(key: GrantKey, experience_id: str) -> None:
    """404 unless the experience is in what the live share covers (410 when it ended)."""
    with granted(key) as (conn, grant):
        _covered_experience(conn, grant, experience_id)


def comment_reachable(key: GrantKey, comment_id: str) -> None:
    """404 unless the comment is one the grantee may see on a covered report."""
    with granted(key) as (conn, grant):
        comments.find_comment(
            conn, comments.Viewer(grant.owner_id, grant, key.principal), comment_id
        )


def _run(key: GrantKey, work: Callable[[Connection, Grant], T]) -> T:
    with granted(key) as (conn, grant):
        return work(conn, grant)


def _covered_experience(conn: Connection, grant: Grant, experience_id: str) -> dict[str, Any]:
    """The candidate's live experience on a report the share covers, else 404."""
    row = repo.get_experience(conn, grant.owner_id, experience_id)
    if row is None or row["deleted_at"] is not None or not grant.covers_report(row["report_id"]):
        raise NotFound("No such experience.")
    return row


def _covered_report(conn: Connection, grant: Grant, report_id: str) -> dict[str, Any]:
    report = repo.get_report(conn, grant.owner_id, report_id)
    if report is None or not grant.covers_report(report_id):
        raise NotFound("No such report.")
    return dict(report)


def summary(key: GrantKey) -> dict[str, Any]:
    """The share as its grantee sees it, and the reports it covers."""

    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        sharer = people_repo.username(conn, grant.owner_id)
        rows = people_repo.covered_reports(conn, grant.owner_id, grant.share["report_id"])
        record_access(conn, grant, "read", "cpa_share", grant.share_id, utcnow())
        return {
            "share": granted_json(grant.share, utcnow(), str(sharer)),
            "reports": [report_json(r) for r in rows],
        }

    return _run(key, work)


def get_report(key: GrantKey, report_id: str) -> dict[str, Any]:
    """A covered report with its PERT status and verification state."""

    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        report = _covered_report(conn, grant, report_id)
        record_access(conn, grant, "read", "cpa_report", report_id, utcnow())
        return {
            "report": report_json(report),
            "verification": verification.verification_picture(conn, grant.owner_id, report),
        }

    return _run(key, work)


def list_experiences(key: GrantKey, report_id: str, query: CpaPageQuery) -> dict[str, Any]:
    """Current versions of a covered report's experiences, with their text."""
    after = decode_cursor(query.cursor, 1)

    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        report = _covered_report(conn, grant, report_id)
        framework = framework_for(conn, report["framework_version"], field="framework_version")
        rows = repo.current_experiences(
            conn, grant.owner_id, report_id, limit=query.limit, after=after[0] if after else None
        )
        page, cursor = paginate(rows, query.limit, lambda r: (r["id"],))
        opened = field_cipher(conn).open_rows(
            EXPERIENCE_TABLE, page, user_id=grant.owner_id, tolerant=True
        )
        record_access(conn, grant, "read", "cpa_report_experiences", report_id, utcnow())
        return page_body([experience_json(r, framework) for r in opened], cursor, query.limit)

    return _run(key, work)


def get_experience(key: GrantKey, experience_id: str) -> dict[str, Any]:
    """One version of an experience of a covered report."""

    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        row = _covered_experience(conn, grant, experience_id)
        framework = framework_for(conn, row["framework_version"], field="framework_version")
        opened = field_cipher(conn).open_row(
            EXPERIENCE_TABLE, row, user_id=grant.owner_id, tolerant=True
        )
        record_access(conn, grant, "read", "cpa_experience", experience_id, utcnow())
        return experience_json(opened, framework)

    return _run(key, work)


def decide(key: GrantKey, experience_id: str, body: Decision) -> dict[str, Any]:
    return _run(
        key,
        lambda conn, grant: verification.decide(
            conn, grant, experience_id, body.decision, body.comment
        ),
    )


def list_comments(key: GrantKey, experience_id: str) -> dict[str, Any]:
    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        viewer = comments.Viewer(grant.owner_id, grant, key.principal)
        return {"items": comments.list_comments(conn, viewer, experience_id)}

    return _run(key, work)


def add_comment(key: GrantKey, experience_id: str, body: CommentCreate) -> dict[str, Any]:
    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        viewer = comments.Viewer(grant.owner_id, grant, key.principal)
        return comments.add_comment(conn, viewer, experience_id, body)

    return _run(key, work)


def resolve_comment(key: GrantKey, comment_id: str, body: CommentResolve) -> dict[str, Any]:
    def work(conn: Connection, grant: Grant) -> dict[str, Any]:
        viewer = comments.Viewer(grant.owner_id, grant, key.principal)
        return comments.set_resolved(conn, viewer, comment_id, body.resolved)

    return _run(key, work)


def list_meetings(key: GrantKey, query: CpaPageQuery) -> dict[str, Any]:
    return _run(key, lambda conn, grant: meetings.grantee_meetings(conn, grant, query))


def record_meeting(key: GrantKey, body: MeetingCreate) -> dict[str, Any]:
    return _run(key, lambda conn, grant: meetings.record_meeting(conn, grant, body))


# -- the candidate's own comment routes --------------------------------------------------------


def own_comments(principal: Principal, experience_id: str) -> dict[str, Any]:
    with get_database().transaction() as conn:
        viewer = comments.Viewer(principal.user_id, None, principal)
        return {"items": comments.list_comments(conn, viewer, experience_id)}


def own_add_comment(
    principal: Principal, experience_id: str, body: CommentCreate
) -> dict[str, Any]:
    with get_database().transaction() as conn:
        viewer = comments.Viewer(principal.user_id, None, principal)
        return comments.add_comment(conn, viewer, experience_id, body)


def own_resolve_comment(
    principal: Principal, comment_id: str, body: CommentResolve
) -> dict[str, Any]:
    with get_database().transaction() as conn:
        viewer = comments.Viewer(principal.user_id, None, principal)
        return comments.set_resolved(conn, viewer, comment_id, body.resolved)


def own_comment_exists(principal: Principal, comment_id: str) -> None:
    with get_database().transaction() as conn:
        comments.find_comment(conn, comments.Viewer(principal.user_id, None, principal), comment_id)
