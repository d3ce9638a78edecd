"""A read-only snapshot of the caller's career data for the assistant.

The chat service reads it once per message, inside the transaction that stores the user's
message, from the caller's own tables (experiences, skills, quick summary) and the shared
career paths; providers get the snapshot, never a connection. Only unencrypted columns are
read: titles, companies, dates, technologies and skills answer the questions the offline
assistant handles, and the remote provider's prompt digest carries no descriptions or
achievements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.analytics import repo as analytics_repo
from pathfinder.analytics.career import Period, experience_years
from pathfinder.schema.shared.reference import career_paths, skills_catalog
from pathfinder.schema.tenant import TenantTables

# Bounds keep a snapshot (and a prompt built from it) small whatever the profile holds.
MAX_ROLES = 200
MAX_SKILLS = 500
MAX_CAREER_PATHS = 300
MAX_CATALOG = 5_000


@dataclass(frozen=True)
class Role:
    """One experience, as the assistant sees it."""

    id: str
    title: str
    company: str | None
    industry: str | None
    role_level: str | None
    start_date: date
    end_date: date | None  # None: current or open-ended
    is_current: bool
    technologies: tuple[str, ...]

    @property
    def period(self) -> Period:
        return Period(self.start_date, self.end_date)


@dataclass(frozen=True)
class Skill:
    name: str
    category: str | None
    proficiency_level: int | None
    years_experience: float | None
    last_used: date | None
    is_primary: bool
    experience_id: str | None


@dataclass(frozen=True)
class CareerPath:
    """A reference career path: its title, stage titles and the skills it asks for."""

    title: str
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    required_skills: tuple[str, ...]


@dataclass(frozen=True)
class ProfileSnapshot:
    """What the assistant knows about the caller, as of ``on_date``."""

    on_date: date
    roles: tuple[Role, ...]  # newest first
    skills: tuple[Skill, ...]
    headline: str | None
    career_paths: tuple[CareerPath, ...] = ()
    # Lower-case catalog name or alias -> lower-case catalog name ("spark" -> "apache spark").
    skill_aliases: Mapping[str, str] = field(default_factory=dict)

    def canonical(self, name: str) -> str:
        """The catalog's name for a skill, lower case; unknown skills stay as written."""
        key = " ".join(name.lower().split())
        return self.skill_aliases.get(key, key)

    @property
    def total_years(self) -> float:
        return experience_years([r.period for r in self.roles], self.on_date)

    @property
    def companies(self) -> list[str]:
        """Distinct companies, most recent first."""
        seen: dict[str, str] = {}
        for role in self.roles:
            if role.company and role.company.strip().lower() not in seen:
                seen[role.company.strip().lower()] = role.company.strip()
        return list(seen.values())

    @property
    def current_roles(self) -> list[Role]:
        return [r for r in self.roles if r.is_current or r.end_date is None]


def _names(value: Any) -> tuple[str, ...]:
    """Skill names from a JSON list of strings or of ``{"name": ...}`` objects."""
    if not isinstance(value, list):
        return ()
    names = []
    for item in value:
        if isinstance(item, str) and item.strip():
            names.append(item.strip())
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            names.append(item["name"].strip())
    return tuple(n for n in names if n)


def _career_path(row: Mapping[str, Any]) -> CareerPath:
    stages = []
    for stage in row["stages"] if isinstance(row["stages"], list) else []:
        if isinstance(stage, Mapping) and isinstance(stage.get("title"), str):
            stages.append((stage["title"], _names(stage.get("skills"))))
    return CareerPath(str(row["title"]), tuple(stages), _names(row["required_skills"]))


def load_profile(conn: Connection, tables: TenantTables, on_date: date) -> ProfileSnapshot:
    """Read the caller's snapshot on ``conn`` (their tables plus shared career paths)."""
    roles = []
    for row in reversed(analytics_repo.experience_periods(conn, tables)[-MAX_ROLES:]):
        technologies = row["technologies"] if isinstance(row["technologies"], list) else []
        roles.append(
            Role(
                id=row["id"],
                title=row["title"],
                company=row["company"],
                industry=row["industry"],
                role_level=row["role_level"],
                start_date=row["start_date"],
                end_date=None if row["is_current"] else row["end_date"],
                is_current=bool(row["is_current"]),
                technologies=tuple(str(t) for t in technologies if isinstance(t, str | int)),
            )
        )
    roles.sort(key=lambda r: (r.start_date, r.id), reverse=True)
    skills = [
        Skill(
            name=row["name"],
            category=row["category"],
            proficiency_level=row["proficiency_level"],
            years_experience=(
                float(row["years_experience"]) if row["years_experience"] is not None else None
            ),
            last_used=row["last_used"],
            is_primary=bool(row["is_primary"]),
            experience_id=row["experience_id"],
        )
        for row in analytics_repo.skill_rows(conn, tables)[:MAX_SKILLS]
    ]
    quick = tables.quick_summary
    headline = conn.execute(
        sa.select(quick.c.headline).order_by(quick.c.computed_at.desc()).limit(1)
    ).scalar()
    paths = conn.execute(
        sa.select(career_paths.c.title, career_paths.c.stages, career_paths.c.required_skills)
        .order_by(career_paths.c.path_key)
        .limit(MAX_CAREER_PATHS)
    ).mappings()
    path_list = tuple(_career_path(row) for row in paths)
    return ProfileSnapshot(
        on_date=on_date,
        roles=tuple(roles),
        skills=tuple(skills),
        headline=headline,
        career_paths=path_list,
        skill_aliases=_aliases(conn),
    )


def _aliases(conn: Connection) -> dict[str, str]:
    """Catalog names and aliases, so "Spark" on a CV matches "Apache Spark" on a path."""
    rows = conn.execute(
        sa.select(skills_catalog.c.normalized_name, skills_catalog.c.aliases)
        .where(skills_catalog.c.is_active == sa.true())
        .limit(MAX_CATALOG)
    )
    aliases: dict[str, str] = {}
    for normalized, alias_list in rows:
        aliases[normalized] = normalized
        for alias in alias_list if isinstance(alias_list, list) else []:
            if isinstance(alias, str) and alias.strip():
                aliases.setdefault(" ".join(alias.lower().split()), normalized)
    return aliases
