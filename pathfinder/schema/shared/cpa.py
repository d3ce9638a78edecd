"""CPA PER/PERT reporting: the versioned competency framework and candidates' reports.

The rules come from ``research/cpa-pert-domain.md``. The competency framework is reference
data keyed by a version (``PER-2021`` today; the 2027 CPA Professional Program will be a new
version, not an edit), holding 20 technical sub-competencies FR1-TX3 in 6 areas and 5
enabling competencies. Every row that names a competency carries the framework version and
a composite foreign key to ``pf_cpa_competencies``, so an unknown code (the original mixed
three code schemes) cannot be stored. Proficiency is 0, 1 or 2 everywhere (the seed allowed
only 1 and 2 in one table while the service accepted 0). Routes are EVR and PPR.

The four narrative fields of an experience (challenge, actions, results, lessons learned)
are encrypted tokens. Hours are optional data: PER counts months, hours matter only for
public-accounting licensing.

``duration_days`` is a computed column. Its expression is a small SQL element compiled per
back-end, and it is VIRTUAL on Oracle and SQLite and STORED on PostgreSQL (PostgreSQL 15
has no virtual generated columns; see :func:`_compile_computed_pg`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import SHA256_HEX_LENGTH, users
from pathfinder.schema.types import (
    JsonDocument,
    UtcDateTime,
    id_type,
    json_checks,
    row_version_column,
)

ROUTES = ("EVR", "PPR")
COMPETENCY_KINDS = ("technical", "enabling")
PROFICIENCY_LEVELS = (0, 1, 2)
REPORT_STATUSES = ("draft", "submitted", "reviewed", "accepted", "revision_requested")
APPROVAL_STATUSES = ("draft", "submitted", "approved", "rejected", "revision_requested")
MILESTONE_SOURCES = ("self", "reviewer")
SUBMISSION_TYPES = ("draft", "final", "revision")
SUBMISSION_STATUSES = ("pending", "accepted", "rejected", "needs_changes", "withdrawn")
HISTORY_ACTIONS = (
    "created",
    "submitted",
    "reviewed",
    "accepted",
    "rejected",
    "revised",
    "withdrawn",
)
TIME_CATEGORIES = ("direct_work", "supervision", "training", "research", "documentation")


class DaySpan(sa.sql.expression.ColumnElement[int]):
    """Inclusive number of days from ``start`` to ``end`` (the same day counts as 1).

    SQLite stores dates as ISO text, so it goes through ``julianday``; PostgreSQL and Oracle
    subtract DATE values directly (an integer on PostgreSQL, a NUMBER of days on Oracle).
    """

    inherit_cache = True
    type = sa.Integer()
    _traverse_internals = [
        ("start", InternalTraversal.dp_clauseelement),
        ("end", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> None:
        self.start = start
        self.end = end


@compiles(DaySpan)
def _compile_day_span(element: DaySpan, compiler: SQLCompiler, **kw: Any) -> str:
    start = compiler.process(element.start, **kw)
    end = compiler.process(element.end, **kw)
    return f"({end} - {start}) + 1"


@compiles(DaySpan, "sqlite")
def _compile_day_span_sqlite(element: DaySpan, compiler: SQLCompiler, **kw: Any) -> str:
    start = compiler.process(element.start, **kw)
    end = compiler.process(element.end, **kw)
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER) + 1"


@compiles(sa.Computed, "postgresql")
def _compile_computed_pg(element: sa.Computed, compiler: DDLCompiler, **kw: Any) -> str:
    """Render ``Computed(persisted=None)`` as STORED on every PostgreSQL version.

    Offline (``ddl/`` rendering) SQLAlchemy 2.1 assumes PostgreSQL 18 and renders no
    keyword, which PostgreSQL 12-17 reject; connected to PostgreSQL 15 it renders STORED with
    a warning (an error under pytest). STORED is valid on every version from 12 on, so the
    DDL no longer depends on which server it was rendered for. ``persisted=True/False`` keep
    SQLAlchemy's own handling.
    """
    if element.persisted is None:
        body = compiler.sql_compiler.process(
            element.sqltext, include_table=False, literal_binds=True
        )
        return f"GENERATED ALWAYS AS ({body}) STORED"
    return compiler.visit_computed_column(element, **kw)


def _level_check(column: str, *, nullable: bool = False) -> sa.ColumnElement[bool]:
    in_range = sa.column(column).between(min(PROFICIENCY_LEVELS), max(PROFICIENCY_LEVELS))
    return sa.or_(sa.column(column).is_(None), in_range) if nullable else in_range


frameworks = sa.Table(
    "pf_cpa_frameworks",
    metadata,
    sa.Column("framework_version", sa.String(20), primary_key=True),  # e.g. PER-2021
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(1000)),
    sa.Column("effective_from", sa.Date(), nullable=False),
    sa.Column("effective_until", sa.Date()),
    # Thresholds the validator reads instead of hard-coding them: breadth/depth/core
    # counts, months required, character limit per response, ...
    sa.Column("rules", JsonDocument(), nullable=False),
    sa.Column("source_url", sa.String(500)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.or_(
            sa.column("effective_until").is_(None),
            sa.column("effective_until") > sa.column("effective_from"),
        ),
        name="dates",
    ),
    *json_checks("rules"),
)

competencies = sa.Table(
    "pf_cpa_competencies",
    metadata,
    sa.Column(
        "framework_version",
        sa.String(20),
        sa.ForeignKey(frameworks.c.framework_version, ondelete="CASCADE"),
        primary_key=True,
    ),
    # FR1..TX3 for technical sub-competencies; the enabling ones get codes of the same shape.
    sa.Column("code", sa.String(8), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("area_code", sa.String(4), nullable=False),  # FR, MA, SG, AA, FN, TX, EN
    sa.Column("area_name", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # Earlier names (e.g. the 2012 map's enabling competency names).
    sa.Column("aliases", JsonDocument()),
    sa.Column("level0_descriptor", sa.Text()),
    sa.Column("level1_descriptor", sa.Text()),
    sa.Column("level2_descriptor", sa.Text()),
    sa.Column("guiding_questions", JsonDocument()),
    sa.Column("sort_order", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("kind").in_(COMPETENCY_KINDS), name="kind"),
    sa.CheckConstraint(sa.column("code") == sa.func.upper(sa.column("code")), name="code"),
    sa.Index(None, "framework_version", "kind", "sort_order"),
    *json_checks("aliases", "guiding_questions"),
)

reports = sa.Table(
    "pf_cpa_pert_reports",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("route", sa.String(3), nullable=False),
    sa.Column(
        "framework_version",
        sa.String(20),
        sa.ForeignKey(frameworks.c.framework_version),
        nullable=False,
    ),
    sa.Column("employer_name", sa.String(200), nullable=False),
    sa.Column("position_title", sa.String(200), nullable=False),
    sa.Column("period_start", sa.Date(), nullable=False),
    sa.Column("period_end", sa.Date(), nullable=False),
    sa.Column("hours_worked", sa.Numeric(7, 2)),
    # Leave taken in the period: PER allows 20 weeks in total, beyond that extends the term.
    sa.Column("leave_days", sa.Integer()),
    # When the candidate must report this period by (the provincial body's date; PERT's
    # "Next Experience Report Date"); shared schema 3.
    sa.Column("submission_deadline", sa.Date()),
    sa.Column("status", sa.String(20), nullable=False),
    # Optimistic locking: UPDATE ... WHERE id = :id AND version = :seen, then version + 1.
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("submitted_at", UtcDateTime()),
    sa.Column("reviewed_at", UtcDateTime()),
    # PERT's "Completed": the candidate says the report is ready for verification.
    sa.Column("completed_at", UtcDateTime()),
    sa.Column("deleted_at", UtcDateTime()),  # soft delete; the reviewer history stays
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("route").in_(ROUTES), name="route"),
    sa.CheckConstraint(sa.column("status").in_(REPORT_STATUSES), name="status"),
    sa.CheckConstraint(sa.column("period_end") > sa.column("period_start"), name="period"),
    sa.CheckConstraint(sa.column("version") >= 1, name="version"),
    sa.CheckConstraint(
        sa.or_(sa.column("hours_worked").is_(None), sa.column("hours_worked") >= 0),
        name="hours",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("leave_days").is_(None), sa.column("leave_days") >= 0),
        name="leave",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("status") == "draft", sa.column("submitted_at").is_not(None)),
        name="submitted",
    ),
    sa.Index(None, "user_id", "period_start"),
    sa.Index(None, "framework_version"),
)

experiences = sa.Table(
    "pf_cpa_pert_experiences",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "report_id", id_type(), sa.ForeignKey(reports.c.id, ondelete="CASCADE"), nullable=False
    ),
    # Denormalised from the report so progress queries need no join.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("framework_version", sa.String(20), nullable=False),
    sa.Column("sub_competency_code", sa.String(8), nullable=False),
    sa.Column("experience_title", sa.String(200), nullable=False),
    sa.Column("experience_start_date", sa.Date(), nullable=False),
    # NULL while the experience is still going on.
    sa.Column("experience_end_date", sa.Date()),
    sa.Column(
        "duration_days",
        sa.Integer(),
        sa.Computed(
            DaySpan(sa.column("experience_start_date"), sa.column("experience_end_date")),
            persisted=None,
        ),
    ),
    # The candidate's self-assessment; approved_level is the reviewer's, kept apart.
    sa.Column("proficiency_level", sa.Integer(), nullable=False),
    sa.Column("approved_level", sa.Integer()),
    sa.Column("challenge", sa.Text()),  # encrypted token
    sa.Column("actions", sa.Text()),  # encrypted token
    sa.Column("results", sa.Text()),  # encrypted token
    sa.Column("lessons_learned", sa.Text()),  # encrypted token
    row_version_column(),
    # Of the plain text, counted before encryption (limits are checked on these).
    sa.Column("character_count", sa.Integer(), nullable=False),
    sa.Column("word_count", sa.Integer(), nullable=False),
    sa.Column("approval_status", sa.String(20), nullable=False),
    # Versions are append-only: an edit inserts a row pointing at the one it replaces.
    sa.Column("previous_version_id", id_type(), unique=True),
    sa.Column("version_number", sa.Integer(), nullable=False),
    sa.Column("is_current_version", sa.Boolean(), nullable=False),
    sa.Column("deleted_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(
        ["framework_version", "sub_competency_code"],
        [competencies.c.framework_version, competencies.c.code],
    ),
    sa.ForeignKeyConstraint(
        ["previous_version_id"], ["pf_cpa_pert_experiences.id"], ondelete="SET NULL"
    ),
    sa.CheckConstraint(_level_check("proficiency_level"), name="level"),
    sa.CheckConstraint(_level_check("approved_level", nullable=True), name="approved"),
    sa.CheckConstraint(sa.column("approval_status").in_(APPROVAL_STATUSES), name="approval"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("experience_end_date").is_(None),
            sa.column("experience_end_date") >= sa.column("experience_start_date"),
        ),
        name="dates",
    ),
    sa.CheckConstraint(
        sa.and_(sa.column("character_count") >= 0, sa.column("word_count") >= 0),
        name="counts",
    ),
    sa.CheckConstraint(sa.column("version_number") >= 1, name="version"),
    sa.Index(None, "report_id", "is_current_version"),
    sa.Index(None, "user_id", "sub_competency_code"),
    sa.Index("ix_pf_cpa_pert_experiences_competency", "framework_version", "sub_competency_code"),
)

experience_breakdown = sa.Table(
    "pf_cpa_experience_breakdown",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "experience_id",
        id_type(),
        sa.ForeignKey(experiences.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("activity_type", sa.String(50), nullable=False),
    sa.Column("activity_description", sa.Text()),
    sa.Column("start_date", sa.Date()),
    sa.Column("end_date", sa.Date()),
    sa.Column("hours_spent", sa.Numeric(7, 2)),
    sa.Column("competencies_demonstrated", JsonDocument()),  # list of codes
    sa.Column("deliverables", JsonDocument()),
    # What the activity changed for the organisation (shared schema 3).
    sa.Column("business_impact", sa.String(1000)),
    sa.Column("sort_order", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        sa.or_(
            sa.column("start_date").is_(None),
            sa.column("end_date").is_(None),
            sa.column("end_date") >= sa.column("start_date"),
        ),
        name="dates",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("hours_spent").is_(None), sa.column("hours_spent") >= 0),
        name="hours",
    ),
    sa.Index(None, "experience_id", "sort_order"),
    *json_checks("competencies_demonstrated", "deliverables"),
)

progress_milestones = sa.Table(
    "pf_cpa_progress_milestones",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("framework_version", sa.String(20), nullable=False),
    sa.Column("sub_competency_code", sa.String(8), nullable=False),
    sa.Column("previous_level", sa.Integer()),
    sa.Column("achieved_level", sa.Integer(), nullable=False),
    sa.Column("achieved_on", sa.Date(), nullable=False),
    sa.Column("evidence_count", sa.Integer(), nullable=False),
    # Self-assessed and reviewer-confirmed levels are separate milestones.
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("notes", sa.Text()),
    # What showed the level when it was reached (shared schema 3; NULL on older rows): the
    # experience versions at that level or higher, and the hours logged on them.
    sa.Column("hours_accumulated", sa.Numeric(10, 2)),
    sa.Column("key_experiences", JsonDocument()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # A level is reached once per source; framework_version is part of the key because a
    # later framework may reuse a code with another meaning.
    sa.UniqueConstraint(
        "user_id",
        "framework_version",
        "sub_competency_code",
        "achieved_level",
        "source",
        name="uq_pf_cpa_progress_milestones_level",
    ),
    sa.ForeignKeyConstraint(
        ["framework_version", "sub_competency_code"],
        [competencies.c.framework_version, competencies.c.code],
    ),
    sa.CheckConstraint(_level_check("achieved_level"), name="level"),
    sa.CheckConstraint(_level_check("previous_level", nullable=True), name="prev_level"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("previous_level").is_(None),
            sa.column("achieved_level") > sa.column("previous_level"),
        ),
        name="progress",
    ),
    sa.CheckConstraint(sa.column("evidence_count") >= 0, name="evidence"),
    sa.CheckConstraint(sa.column("source").in_(MILESTONE_SOURCES), name="source"),
    sa.Index(None, "user_id", "achieved_on"),
    sa.Index(
        "ix_pf_cpa_progress_milestones_competency", "framework_version", "sub_competency_code"
    ),
    *json_checks("key_experiences"),
)

submissions = sa.Table(
    "pf_cpa_pert_submissions",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "report_id", id_type(), sa.ForeignKey(reports.c.id, ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("submission_type", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # The report's version when it was submitted.
    sa.Column("report_version", sa.Integer(), nullable=False),
    # Canonical JSON of what was submitted; checksum_sha256 is over its canonical bytes.
    sa.Column("payload", JsonDocument(), nullable=False),
    sa.Column("checksum_sha256", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("submitted_at", UtcDateTime()),
    sa.Column("is_final", sa.Boolean(), nullable=False),
    # What the provincial body's system answered when the candidate submitted there
    # (Pathfinder cannot submit for them): its reference number and confirmation code.
    # Receipts of a filing, not personal data, so stored in clear (shared schema 3).
    sa.Column("cpa_reference_number", sa.String(100)),
    sa.Column("cpa_confirmation_code", sa.String(100)),
    # Counted from the payload when it is frozen, so lists need not read the payload.
    sa.Column("experience_count", sa.Integer()),
    sa.Column("total_word_count", sa.Integer()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("submission_type").in_(SUBMISSION_TYPES), name="type"),
    sa.CheckConstraint(sa.column("status").in_(SUBMISSION_STATUSES), name="status"),
    sa.CheckConstraint(
        sa.func.length(sa.column("checksum_sha256")) == SHA256_HEX_LENGTH, name="checksum"
    ),
    sa.CheckConstraint(sa.column("report_version") >= 1, name="version"),
    sa.Index(None, "report_id", "created_at"),
    sa.Index(None, "user_id", "created_at"),
    *json_checks("payload"),
)

submission_history = sa.Table(
    "pf_cpa_submission_history",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "submission_id",
        id_type(),
        sa.ForeignKey(submissions.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("previous_status", sa.String(20)),
    sa.Column("new_status", sa.String(20), nullable=False),
    # Kept when the acting user is deleted (the audit log still has the id).
    sa.Column("actor_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("notes", sa.Text()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("action").in_(HISTORY_ACTIONS), name="action"),
    sa.CheckConstraint(sa.column("new_status").in_(SUBMISSION_STATUSES), name="new_status"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("previous_status").is_(None),
            sa.column("previous_status").in_(SUBMISSION_STATUSES),
        ),
        name="prev_status",
    ),
    sa.Index(None, "submission_id", "created_at"),
    sa.Index(None, "actor_id"),
)

experience_time_tracking = sa.Table(
    "pf_cpa_experience_time_tracking",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column(
        "experience_id",
        id_type(),
        sa.ForeignKey(experiences.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("entry_date", sa.Date(), nullable=False),
    sa.Column("hours", sa.Numeric(4, 2), nullable=False),
    sa.Column("activity_category", sa.String(20), nullable=False),
    sa.Column("description", sa.String(1000)),
    # Whether the hours were billed to a client, and whether they count toward CPA
    # experience (shared schema 3; NULL for entries from before: read as true, the seed's
    # default). Public-practice candidates report chargeable hours for licensing.
    sa.Column("is_billable", sa.Boolean()),
    sa.Column("is_cpa_eligible", sa.Boolean()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # One entry per experience and day; a day has 24 hours.
    sa.UniqueConstraint("experience_id", "entry_date"),
    sa.CheckConstraint(sa.and_(sa.column("hours") > 0, sa.column("hours") <= 24), name="hours"),
    sa.CheckConstraint(sa.column("activity_category").in_(TIME_CATEGORIES), name="category"),
)
