"""Threaded comments on an experience (or one part of its response), by the candidate and
by grantees with the comment scope.

A thread belongs to the experience, not to one version: comments name the version they
were written on and a thread lists the comments of every version of it, so a returned
experience keeps its conversation after the candidate edits it. A comment may mention
participants ("candidate" or the id of another share on the same report), who are mailed.
A private note is shown to its author only: one grantee never sees another's, and the
candidate's own private notes stay theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from pathfinder import audit
from pathfinder.api.errors import NotFound
from pathfinder.auth.principal import Principal
from pathfinder.cpa import people_repo, repo
from pathfinder.cpa.errors import invalid
from pathfinder.cpa.experiences import lineage
from pathfinder.cpa.grants import Grant, record_access, share_state, utc
from pathfinder.cpa.schemas import CommentCreate
from pathfinder.cpa.service import iso, utcnow
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.security.fields import FIRST_ROW_VERSION, field_cipher, unreadable_fields

TABLE = "pf_cpa_comments"
MENTION_CANDIDATE = "candidate"


@dataclass(frozen=True)
class Viewer:
    """Who reads or writes a thread: the candidate (no grant) or a grantee."""

    owner_id: str
    grant: Grant | None = None
    principal: Principal | None = None

    @property
    def share_id(self) -> str | None:
        return self.grant.share_id if self.grant else None

    @property
    def role(self) -> str:
        return self.grant.role if self.grant else "candidate"

    def wrote(self, row: Mapping[str, Any]) -> bool:
        if self.grant is None:
            return row["share_id"] is None and row["author_role"] == "candidate"
        return row["share_id"] == self.grant.share_id


def comment_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "report_id": row["report_id"],
        "experience_id": row["experience_id"],
        "part": row["part"],
        "parent_id": row["parent_id"],
        "author_role": row["author_role"],
        "share_id": row["share_id"],
        "body": row.get("body"),
        "mentions": list(row["mentions"] or []),
        "private": bool(row["is_private"]),
        "resolved": row["resolved_at"] is not None,
        "resolved_at": iso(utc(row["resolved_at"])),
        "created_at": iso(utc(row["created_at"])),
        **unreadable_fields(row),
    }


def _experience(conn: Connection, viewer: Viewer, experience_id: str) -> Mapping[str, Any]:
    row = repo.get_experience(conn, viewer.owner_id, experience_id)
    if row is None or row["deleted_at"] is not None:
        raise NotFound("No such experience.")
    if viewer.grant is not None and not viewer.grant.covers_report(row["report_id"]):
        raise NotFound("No such experience.")
    return row


def _chain_ids(conn: Connection, owner_id: str, row: Mapping[str, Any]) -> list[str]:
    graph = repo.version_graph(conn, owner_id, row["report_id"])
    return [v["id"] for v in lineage(graph, row["id"])]


def _visible(viewer: Viewer, row: Mapping[str, Any]) -> bool:
    return not row["is_private"] or viewer.wrote(row)


def list_comments(conn: Connection, viewer: Viewer, experience_id: str) -> list[dict[str, Any]]:
    """The thread of the experience across its versions, oldest first, as ``viewer`` sees it."""
    row = _experience(conn, viewer, experience_id)
    ids = _chain_ids(conn, viewer.owner_id, row)
    rows = people_repo.thread(conn, viewer.owner_id, ids)
    visible = [r for r in rows if _visible(viewer, r)]
    opened = field_cipher(conn).open_rows(TABLE, visible, user_id=viewer.owner_id, tolerant=True)
    if viewer.grant is not None:
        record_access(conn, viewer.grant, "read", "cpa_comments", row["id"], utcnow())
    return [comment_json(r) for r in opened]


def _mention_recipients(
    conn: Connection, viewer: Viewer, report_id: str, mentions: list[str], now: datetime
) -> list[str]:
    """E-mail addresses of the mentioned participants; 422 for one not on this report."""
    addresses: list[str] = []
    for index, mention in enumerate(mentions):
        if mention == MENTION_CANDIDATE:
            addresses.append(str(people_repo.user_email(conn, viewer.owner_id)))
            continue
        share = people_repo.owned_share(conn, viewer.owner_id, mention)
        covers = share is not None and share["report_id"] in (None, report_id)
        if not covers or share_state(share, now) != "active":
            raise invalid(f"mentions.{index}", "not a participant of this report")
        opened = field_cipher(conn).open_row("pf_cpa_shares", share, user_id=viewer.owner_id)
        addresses.append(str(opened["grantee_email"]))
    return addresses


def add_comment(
    conn: Connection, viewer: Viewer, experience_id: str, body: CommentCreate
) -> dict[str, Any]:
    """A comment or reply on an experience (the version named, or the thread's newest)."""
    if viewer.grant is not None:
        viewer.grant.require("comment")
    now = utcnow()
    row = _experience(conn, viewer, experience_id)
    if body.parent_id is not None:
        parent = people_repo.get_comment(conn, viewer.owner_id, body.parent_id)
        if (
            parent is None
            or parent["experience_id"] not in _chain_ids(conn, viewer.owner_id, row)
            or not _visible(viewer, parent)
        ):
            raise invalid("parent_id", "not a comment of this experience")
    mentions = list(dict.fromkeys(body.mentions))
    recipients = _mention_recipients(conn, viewer, row["report_id"], mentions, now)
    values = {
        "id": new_id(),
        "user_id": viewer.owner_id,
        "report_id": row["report_id"],
        "experience_id": row["id"],
        "part": body.part,
        "parent_id": body.parent_id,
        "share_id": viewer.share_id,
        "author_user_id": viewer.grant.grantee_user_id if viewer.grant else viewer.owner_id,
        "author_role": viewer.role,
        "body": body.body,
        "row_version": FIRST_ROW_VERSION,
        "mentions": mentions,
        "is_private": body.private,
        "resolved_at": None,
        "created_at": now,
        "updated_at": now,
    }
    people_repo.insert_comment(
        conn, field_cipher(conn).seal_row(TABLE, values, user_id=viewer.owner_id)
    )
    if viewer.grant is not None:
        record_access(
            conn,
            viewer.grant,
            "comment",
            "cpa_experience",
            row["id"],
            now,
            event="sensitive_create",
        )
    else:
        audit.record(
            conn,
            "sensitive_create",
            actor=viewer.principal,
            target_type="cpa_comment",
            target_id=values["id"],
            details={"experience_id": row["id"]},
        )
    if not body.private:
        for address in recipients:
            get_mailer().queue(
                conn,
                Message(
                    recipient=address,
                    template="cpa_comment_mention",
                    subject="You were mentioned in a comment on a CPA experience",
                    body=(
                        f"The {viewer.role.replace('_', ' ')} mentioned you in a comment on "
                        f'the experience "{row["experience_title"]}". Open the share in '
                        "Pathfinder to read and answer it.\n"
                    ),
                ),
            )
    return comment_json(values)


def find_comment(conn: Connection, viewer: Viewer, comment_id: str) -> Mapping[str, Any]:
    """A comment ``viewer`` may see, on an experience still there; 404 otherwise."""
    row = people_repo.get_comment(conn, viewer.owner_id, comment_id)
    if row is None or not _visible(viewer, row):
        raise NotFound("No such comment.")
    if viewer.grant is not None and not viewer.grant.covers_report(row["report_id"]):
        raise NotFound("No such comment.")
    _experience(conn, viewer, row["experience_id"])
    return row


def set_resolved(
    conn: Connection, viewer: Viewer, comment_id: str, resolved: bool
) -> dict[str, Any]:
    """Mark a thread's comment resolved or open again (candidate, or comment scope)."""
    row = find_comment(conn, viewer, comment_id)
    if viewer.grant is not None:
        viewer.grant.require("comment")
    now = utcnow()
    resolved_at = now if resolved else None
    people_repo.set_comment_resolved(conn, comment_id, resolved_at, now)
    if viewer.grant is not None:
        record_access(
            conn, viewer.grant, "resolve", "cpa_comment", comment_id, now, event="sensitive_update"
        )
    else:
        audit.record(
            conn,
            "sensitive_update",
            actor=viewer.principal,
            target_type="cpa_comment",
            target_id=comment_id,
            details={"resolved": resolved},
        )
    opened = field_cipher(conn).open_row(
        TABLE, {**row, "resolved_at": resolved_at}, user_id=viewer.owner_id, tolerant=True
    )
    return comment_json(opened)
