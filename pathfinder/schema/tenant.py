"""The per-user template: every user's ``pf_user_<username>_<table>`` tables, versioned.

The template is one function of the version (:func:`_define`): a later version only *adds*
tables, columns, indexes or views, guarded by ``if t.version >= N``. The provisioning engine
creates the latest version directly for a new user and derives each migration step by
diffing two consecutive versions (:mod:`pathfinder.provisioning.plan`), so the template and
its migrations cannot disagree.

Version history (keep in step with ``docs/schema.md``):

1. The seed design's tables: experiences, skills, profile_summary, quick_summary,
   chat_conversations, chat_messages, career_analytics, skills_progression,
   experiences_archive, and the career_summary view.
2. ``pert_responses`` (the seed named it without DDL), ``skills.source`` and an index on
   ``experiences.company``.
3. ``row_version`` on every table with encrypted cells (experiences, experiences_archive,
   chat_conversations, chat_messages, pert_responses): part of each cell's AAD, so an older
   ciphertext restored into a newer row does not open (``docs/security.md``).
4. The seed's columns that users missed: ``profile_summary.career_highlights`` (computed),
   ``quick_summary.career_objective`` (written by the user, an encrypted token) with the
   ``row_version`` its encryption needs, and the index on ``skills.category``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pathfinder.schema.naming import check_part, tenant_object_name
from pathfinder.schema.types import (
    JsonDocument,
    UtcDateTime,
    id_type,
    json_checks,
    row_version_column,
)

LATEST_TEMPLATE_VERSION = 4
# On SQLite each user's tables live in their own file, attached under this schema name.
SQLITE_TENANT_SCHEMA = "tenant"

EMPLOYMENT_TYPES = (
    "full_time",
    "part_time",
    "contract",
    "internship",
    "volunteer",
    "self_employed",
    "temporary",
)
ROLE_LEVELS = ("entry", "intermediate", "senior", "lead", "manager", "director", "executive")
CHAT_ROLES = ("user", "assistant", "system")
SKILL_SOURCES = ("manual", "extracted", "imported")


@dataclass(frozen=True)
class TenantView:
    """A per-user view: its logical and physical name and its defining select."""

    logical: str
    name: str
    select: sa.Select[Any]
    schema: str | None


@dataclass
class TenantTables:
    """One user's Table objects at one template version, ready for queries and DDL."""

    username: str
    version: int
    schema: str | None
    metadata: sa.MetaData
    tables: dict[str, sa.Table] = field(default_factory=dict)
    views: dict[str, TenantView] = field(default_factory=dict)

    def __getattr__(self, logical: str) -> sa.Table:
        try:
            return self.__dict__["tables"][logical]
        except KeyError:
            raise AttributeError(logical) from None

    def __getitem__(self, logical: str) -> sa.Table:
        return self.tables[logical]

    def indexes(self) -> Iterator[tuple[str, sa.Index]]:
        """(logical table, index) pairs in a stable order."""
        for logical, table in self.tables.items():
            for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
                yield logical, index


class _TemplateBuilder:
    """Builds the Table objects of one user and version; used only by :func:`_define`."""

    def __init__(self, username: str, version: int, schema: str | None) -> None:
        self.username = username
        self.version = version
        self.schema = schema
        self.metadata = sa.MetaData(
            naming_convention={
                "pk": "%(table_name)s_pk",
                # One foreign key and one unique constraint per table at most: the names stay
                # within PostgreSQL's 63 bytes for the longest username (tested).
                "fk": "%(table_name)s_fk",
                "uq": "%(table_name)s_uq",
                "ck": "%(table_name)s_ck_%(constraint_name)s",
            }
        )
        self.result = TenantTables(username, version, schema, self.metadata)

    def name(self, tail: str) -> str:
        return tenant_object_name(self.username, tail)

    def table(self, logical: str, *items: sa.SchemaItem) -> sa.Table:
        check_part(logical)
        table = sa.Table(self.name(logical), self.metadata, *items, schema=self.schema)
        table.info["logical_name"] = logical
        self.result.tables[logical] = table
        return table

    def index(self, table: sa.Table, code: str, *columns: str, unique: bool = False) -> None:
        """Index ``pf_user_<username>_ix_<code>``; ``code`` is unique within the template.

        Short on purpose: PostgreSQL cuts identifiers at 63 bytes, and a 30-character
        username leaves 24 for the part after it (tests/schema/test_naming.py checks).
        """
        sa.Index(self.name(f"ix_{check_part(code)}"), *(table.c[c] for c in columns), unique=unique)

    def fk(self, logical_target: str, ondelete: str) -> sa.ForeignKey:
        target = self.result.tables[logical_target]
        return sa.ForeignKey(target.c.id, ondelete=ondelete)

    def view(self, logical: str, select: sa.Select[Any]) -> None:
        check_part(logical)
        self.result.views[logical] = TenantView(logical, self.name(logical), select, self.schema)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


def _experience_columns() -> list[sa.SchemaItem]:
    """Columns shared by ``experiences`` and ``experiences_archive``.

    ``description`` and ``key_achievements`` hold encrypted tokens (text), never plain text.
    """
    return [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200)),
        sa.Column("department", sa.String(200)),
        sa.Column("location", sa.String(200)),
        sa.Column("employment_type", sa.String(20), nullable=False),
        sa.Column("role_level", sa.String(20)),
        sa.Column("industry", sa.String(100)),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("key_achievements", sa.Text()),
        sa.Column("technologies", JsonDocument()),
        sa.Column("team_size", sa.Integer()),
        *_timestamps(),
        *json_checks("technologies"),
    ]


def _experience_checks(table: sa.Table) -> None:
    """Date and enumeration rules for an experiences-shaped table."""
    c = table.c
    table.append_constraint(
        sa.CheckConstraint(sa.or_(c.end_date.is_(None), c.end_date >= c.start_date), name="dates")
    )
    table.append_constraint(
        sa.CheckConstraint(sa.or_(c.is_current == sa.false(), c.end_date.is_(None)), name="cur")
    )
    table.append_constraint(
        sa.CheckConstraint(c.employment_type.in_(EMPLOYMENT_TYPES), name="emp_type")
    )
    table.append_constraint(
        sa.CheckConstraint(
            sa.or_(c.role_level.is_(None), c.role_level.in_(ROLE_LEVELS)), name="lvl"
        )
    )


def _define(t: _TemplateBuilder) -> None:
    """The template. Later versions add to it under ``if t.version >= N``; never remove."""
    experiences = t.table("experiences", *_experience_columns())
    _experience_checks(experiences)
    t.index(experiences, "exp_dates", "start_date", "end_date")
    t.index(experiences, "exp_current", "is_current")
    if t.version >= 2:
        t.index(experiences, "exp_company", "company")

    skill_columns: list[sa.SchemaItem] = [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("experience_id", id_type(), t.fk("experiences", "CASCADE")),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("category", sa.String(50)),
        sa.Column("proficiency_level", sa.Integer()),
        sa.Column("years_experience", sa.Numeric(4, 1)),
        sa.Column("last_used", sa.Date()),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(sa.column("proficiency_level").between(1, 5), name="prof"),
        sa.CheckConstraint(sa.column("years_experience") >= 0, name="years"),
    ]
    if t.version >= 2:
        # Nullable with a server default so ALTER TABLE ADD works on rows that exist.
        skill_columns.append(
            sa.Column("source", sa.String(20), nullable=True, server_default="manual")
        )
    skills = t.table("skills", *skill_columns)
    t.index(skills, "skill_name", "name")
    t.index(skills, "skill_exp", "experience_id")

    t.table(
        "profile_summary",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("total_years", sa.Numeric(5, 1), nullable=False),
        sa.Column("total_roles", sa.Integer(), nullable=False),
        sa.Column("industries", JsonDocument(), nullable=False),
        sa.Column("top_skills", JsonDocument(), nullable=False),
        sa.Column("leadership_highlights", JsonDocument(), nullable=False),
        sa.Column("technical_highlights", JsonDocument(), nullable=False),
        sa.Column("career_progression", JsonDocument()),
        sa.Column("is_stale", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        *json_checks(
            "industries",
            "top_skills",
            "leadership_highlights",
            "technical_highlights",
            "career_progression",
        ),
    )
    t.table(
        "quick_summary",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("headline", sa.String(300), nullable=False),
        sa.Column("current_title", sa.String(200)),
        sa.Column("current_company", sa.String(200)),
        sa.Column("total_years", sa.Numeric(5, 1), nullable=False),
        sa.Column("total_roles", sa.Integer(), nullable=False),
        sa.Column("key_strengths", JsonDocument(), nullable=False),
        sa.Column("top_skills", JsonDocument(), nullable=False),
        sa.Column("is_stale", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        *json_checks("key_strengths", "top_skills"),
    )

    conversations = t.table(
        "chat_conversations",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("context", sa.Text()),  # encrypted token
        sa.Column("model", sa.String(100)),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("last_message_at", UtcDateTime()),
        *_timestamps(),
    )
    t.index(conversations, "conv_recent", "last_message_at")
    messages = t.table(
        "chat_messages",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column(
            "conversation_id", id_type(), t.fk("chat_conversations", "CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),  # encrypted token
        sa.Column("tokens_used", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(100)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(sa.column("role").in_(CHAT_ROLES), name="role"),
    )
    t.index(messages, "msg_conv", "conversation_id", "created_at")

    analytics = t.table(
        "career_analytics",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("metric_date", sa.Date(), nullable=False),
        sa.Column("metric_type", sa.String(50), nullable=False),
        sa.Column("metric_value", sa.Numeric(14, 4), nullable=False),
        sa.Column("details", JsonDocument()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("metric_date", "metric_type"),
        *json_checks("details"),
    )
    t.index(analytics, "metric_type", "metric_type", "metric_date")

    progression = t.table(
        "skills_progression",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("skill_name", sa.String(100), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("proficiency_level", sa.Integer(), nullable=False),
        sa.Column("assessment_source", sa.String(30), nullable=False),
        sa.Column("notes", sa.Text()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(sa.column("proficiency_level").between(1, 5), name="prof"),
    )
    t.index(progression, "progress_skill", "skill_name", "assessed_on")

    archive = t.table(
        "experiences_archive",
        *_experience_columns(),
        sa.Column("archived_at", UtcDateTime(), nullable=False),
        sa.Column("archive_reason", sa.String(100), nullable=False),
    )
    t.index(archive, "archive_at", "archived_at")

    if t.version >= 2:
        drafts = t.table(
            "pert_responses",
            sa.Column("id", id_type(), primary_key=True),
            sa.Column("framework_version", sa.String(20), nullable=False),
            sa.Column("sub_competency_code", sa.String(8), nullable=False),
            sa.Column("proficiency_level", sa.Integer(), nullable=False),
            sa.Column("title", sa.String(200)),
            # The four narrative parts hold encrypted tokens.
            sa.Column("challenge", sa.Text()),
            sa.Column("actions", sa.Text()),
            sa.Column("results", sa.Text()),
            sa.Column("lessons_learned", sa.Text()),
            sa.Column("character_count", sa.Integer(), nullable=False),
            sa.Column("word_count", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("promoted_experience_id", id_type()),
            *_timestamps(),
            sa.CheckConstraint(sa.column("proficiency_level").between(0, 2), name="prof"),
            sa.CheckConstraint(sa.column("status").in_(("draft", "promoted")), name="status"),
        )
        t.index(drafts, "pert_code", "sub_competency_code")

    if t.version >= 4:
        t.index(skills, "skill_cat", "category")
        profile = t.result.tables["profile_summary"]
        profile.append_column(sa.Column("career_highlights", JsonDocument()))
        for check in json_checks("career_highlights"):
            profile.append_constraint(check)
        quick = t.result.tables["quick_summary"]
        quick.append_column(sa.Column("career_objective", sa.Text()))  # encrypted token
        quick.append_column(row_version_column())

    if t.version >= 3:
        for logical in (
            "experiences",
            "experiences_archive",
            "chat_conversations",
            "chat_messages",
            "pert_responses",
        ):
            t.result.tables[logical].append_column(row_version_column())

    # The view reads a schema-less copy of the table: on SQLite a view in an attached file
    # may only name objects of that same file, unqualified.
    exp = sa.table(
        experiences.name,
        sa.column("id"),
        sa.column("start_date"),
        sa.column("end_date"),
        sa.column("is_current", sa.Boolean()),
        sa.column("company"),
    )
    t.view(
        "career_summary",
        sa.select(
            sa.func.count(exp.c.id).label("total_roles"),
            sa.func.count(sa.distinct(exp.c.company)).label("total_companies"),
            sa.func.min(exp.c.start_date).label("first_start_date"),
            sa.func.max(exp.c.end_date).label("last_end_date"),
            sa.func.sum(sa.case((exp.c.is_current == sa.true(), 1), else_=0)).label(
                "current_roles"
            ),
        ),
    )


def tenant_tables(
    username: str, version: int = LATEST_TEMPLATE_VERSION, *, schema: str | None = None
) -> TenantTables:
    """Build ``username``'s Table objects at ``version``.

    ``schema`` is :data:`SQLITE_TENANT_SCHEMA` on SQLite (the user's file is attached under
    that name) and None on PostgreSQL and Oracle, where every table is in the application's
    schema. ``username`` must already be canonical; the name builder re-validates it.
    """
    if not 1 <= version <= LATEST_TEMPLATE_VERSION:
        raise ValueError(f"unknown template version {version}")
    builder = _TemplateBuilder(username, version, schema)
    _define(builder)
    return builder.result


def template_table_names(version: int = LATEST_TEMPLATE_VERSION) -> list[str]:
    """Logical table names of the template at ``version`` (for docs, checks and rendering)."""
    return list(tenant_tables("template_probe", version).tables)
