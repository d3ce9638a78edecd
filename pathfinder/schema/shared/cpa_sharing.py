"""CPA PERT people: scoped, expiring, revocable shares and what is done through them.

A candidate grants a mentor, a supervisor or a program leader access to one report (or to
the whole PER record) with one scope. The grantee is either a Pathfinder account (the share
is an invitation mailed to an address, accepted while signed in) or a link whose token is
stored only as a SHA-256 hash. Every read and action through a share leaves a row in
``pf_cpa_share_access`` (the candidate's "who saw what") beside the audit log row.

Verification decisions name the experience *version* they were made on, so an edit (which
writes a new version) needs a new decision: re-verification falls out of the versions the
module already keeps. Comments, meeting notes and decision comments are encrypted with the
candidate's data key, like the other CPA free text.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.cpa import experiences, reports
from pathfinder.schema.shared.identity import SHA256_HEX_LENGTH, users
from pathfinder.schema.types import (
    JsonDocument,
    UtcDateTime,
    id_type,
    json_checks,
    row_version_column,
)

SHARE_ROLES = ("mentor", "supervisor", "program_leader")
# Ordered: each scope includes the ones before it (verify/certify include comment and read).
SHARE_SCOPES = ("read", "comment", "verify", "certify")
GRANTEE_KINDS = ("account", "link")
DECISIONS = ("verified", "certified", "returned")
COMMENT_PARTS = ("challenge", "actions", "results", "lessons_learned")
AUTHOR_ROLES = ("candidate", *SHARE_ROLES)

shares = sa.Table(
    "pf_cpa_shares",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # The candidate who shares.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    # NULL: the whole PER record (every report, and the mentor meetings).
    sa.Column("report_id", id_type(), sa.ForeignKey(reports.c.id, ondelete="CASCADE")),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scope", sa.String(10), nullable=False),
    sa.Column("grantee_kind", sa.String(10), nullable=False),
    sa.Column("grantee_email", sa.Text()),  # encrypted token
    row_version_column(),
    # Set when an account invitation is accepted; a link share never has one.
    # SET NULL: a grantee's deletion must not erase the candidate's record of the share.
    sa.Column("grantee_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    # SHA-256 of the invitation token (account) or the link token (link); never the token.
    sa.Column("token_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("accepted_at", UtcDateTime()),
    sa.Column("revoked_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("role").in_(SHARE_ROLES), name="role"),
    sa.CheckConstraint(sa.column("scope").in_(SHARE_SCOPES), name="scope"),
    sa.CheckConstraint(sa.column("grantee_kind").in_(GRANTEE_KINDS), name="kind"),
    # Verify is a supervisor's scope, certify a program leader's.
    sa.CheckConstraint(
        sa.or_(sa.column("scope") != "verify", sa.column("role") == "supervisor"),
        name="verify_role",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("scope") != "certify", sa.column("role") == "program_leader"),
        name="certify_role",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("grantee_kind") == "account", sa.column("grantee_user_id").is_(None)),
        name="link_grantee",
    ),
    sa.CheckConstraint(
        sa.func.length(sa.column("token_hash")) == SHA256_HEX_LENGTH, name="token_hash"
    ),
    sa.Index(None, "user_id", "created_at"),
    sa.Index(None, "grantee_user_id"),
    sa.Index(None, "report_id"),
)

share_access = sa.Table(
    "pf_cpa_share_access",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "share_id", id_type(), sa.ForeignKey(shares.c.id, ondelete="CASCADE"), nullable=False
    ),
    # The sharer, so "who saw my things" is one indexed query.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("grantee_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("grantee_kind", sa.String(10), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scope", sa.String(10), nullable=False),
    # read, comment, resolve, verify, certify, return, meeting, ...
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("target_type", sa.String(30), nullable=False),
    sa.Column("target_id", id_type()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("grantee_kind").in_(GRANTEE_KINDS), name="kind"),
    sa.Index(None, "user_id", "created_at"),
    sa.Index(None, "share_id", "created_at"),
)

verifications = sa.Table(
    "pf_cpa_verifications",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column(
        "report_id", id_type(), sa.ForeignKey(reports.c.id, ondelete="CASCADE"), nullable=False
    ),
    # The experience *version* decided on: a later version has no decision until it gets one.
    sa.Column(
        "experience_id",
        id_type(),
        sa.ForeignKey(experiences.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("share_id", id_type(), sa.ForeignKey(shares.c.id, ondelete="SET NULL")),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    # Why it was returned (or a remark with an approval); "comment" is reserved in Oracle.
    sa.Column("decision_note", sa.Text()),  # encrypted token
    row_version_column(),
    sa.Column("decided_by_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("decision").in_(DECISIONS), name="decision"),
    sa.CheckConstraint(sa.column("role").in_(SHARE_ROLES), name="role"),
    sa.Index(None, "report_id", "created_at"),
    sa.Index(None, "experience_id"),
    sa.Index(None, "user_id"),
)

mentor_meetings = sa.Table(
    "pf_cpa_mentor_meetings",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # The candidate the meeting was with.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("share_id", id_type(), sa.ForeignKey(shares.c.id, ondelete="SET NULL")),
    sa.Column("author_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("meeting_date", sa.Date(), nullable=False),
    sa.Column("topics", sa.Text()),  # encrypted token
    sa.Column("concerns", sa.Text()),  # encrypted token
    sa.Column("next_steps", sa.Text()),  # encrypted token
    row_version_column(),
    sa.Column("acknowledged_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index(None, "user_id", "meeting_date"),
    sa.Index(None, "share_id"),
)

comments = sa.Table(
    "pf_cpa_comments",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # The candidate whose experience it is (the owner of the thread).
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column(
        "report_id", id_type(), sa.ForeignKey(reports.c.id, ondelete="CASCADE"), nullable=False
    ),
    # The version commented on; a thread follows the experience across its versions.
    sa.Column(
        "experience_id",
        id_type(),
        sa.ForeignKey(experiences.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    # NULL: the experience as a whole; else one part of its response.
    sa.Column("part", sa.String(20)),
    sa.Column("parent_id", id_type(), sa.ForeignKey("pf_cpa_comments.id", ondelete="CASCADE")),
    # NULL when the candidate wrote it; else the share it was written through.
    sa.Column("share_id", id_type(), sa.ForeignKey(shares.c.id, ondelete="SET NULL")),
    sa.Column("author_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("author_role", sa.String(20), nullable=False),
    sa.Column("body", sa.Text()),  # encrypted token
    row_version_column(),
    # Participants named: "candidate" or share ids.
    sa.Column("mentions", JsonDocument()),
    # A private note is shown to its author only.
    sa.Column("is_private", sa.Boolean(), nullable=False),
    sa.Column("resolved_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.or_(sa.column("part").is_(None), sa.column("part").in_(COMMENT_PARTS)), name="part"
    ),
    sa.CheckConstraint(sa.column("author_role").in_(AUTHOR_ROLES), name="author_role"),
    sa.Index(None, "report_id", "created_at"),
    sa.Index(None, "experience_id"),
    sa.Index(None, "parent_id"),
    *json_checks("mentions"),
)
