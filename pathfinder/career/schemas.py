"""Request models of the career routes: experiences, skills, archive, lists.

Field rules live here (lengths, enumerations from :mod:`pathfinder.schema.tenant`, list
bounds); rules that span fields (dates, ``is_current``) are checked on the *merged* record
by :func:`check_experience`, so a partial update is judged with the values it keeps.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from pathfinder.api.validation import RequestModel, ValidationProblem
from pathfinder.reference.schemas import clean_terms
from pathfinder.schema.tenant import EMPLOYMENT_TYPES, ROLE_LEVELS

EmploymentType = Literal[EMPLOYMENT_TYPES]  # type: ignore[valid-type]
RoleLevel = Literal[ROLE_LEVELS]  # type: ignore[valid-type]
SkillSource = Literal["manual", "extracted", "imported"]

MAX_TECHNOLOGIES = 50
MAX_ACHIEVEMENTS = 30
MAX_BULK = 50
EARLIEST_DATE = date(1940, 1, 1)


def _clean_achievements(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out = [" ".join(v.split()) for v in values]
    if any(len(v) > 1000 for v in out):
        raise ValueError("each achievement is at most 1000 characters")
    return [v for v in out if v]


class ExperienceFields(RequestModel):
    """Every field of an experience, all optional (the base of create and update)."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    employment_type: EmploymentType | None = None
    role_level: RoleLevel | None = None
    industry: str | None = Field(default=None, max_length=100)
    start_date: date | None = None
    end_date: date | None = None
    is_current: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)
    key_achievements: list[str] | None = Field(default=None, max_length=MAX_ACHIEVEMENTS)
    technologies: list[str] | None = Field(default=None, max_length=MAX_TECHNOLOGIES)
    team_size: int | None = Field(default=None, ge=0, le=1_000_000)

    _technologies = field_validator("technologies")(clean_terms)
    _achievements = field_validator("key_achievements")(_clean_achievements)


class ExperienceCreate(ExperienceFields):
    """A new experience: ``title``, ``employment_type`` and ``start_date`` are required."""

    title: str = Field(min_length=1, max_length=200)
    employment_type: EmploymentType = "full_time"
    start_date: date
    is_current: bool = False


class ExperienceUpdate(ExperienceFields):
    """Fields to change; absent fields keep their value, ``null`` clears optional ones."""


class BulkExperienceCreate(RequestModel):
    """Up to :data:`MAX_BULK` experiences created in one transaction (all or none)."""

    items: list[ExperienceCreate] = Field(min_length=1, max_length=MAX_BULK)


REQUIRED_EXPERIENCE_FIELDS = ("title", "employment_type", "start_date", "is_current")


def experience_errors(
    record: dict[str, Any], *, today: date, prefix: str = ""
) -> list[dict[str, str]]:
    """Cross-field rule violations of a complete (merged) experience, as field errors.

    - ``end_date`` on or after ``start_date``; neither before 1940 nor in the future;
    - a current role has no ``end_date``; a past role needs one (its length counts in the
      summaries, so "ended at an unknown date" would make them guesswork).
    """
    errors: list[dict[str, str]] = []

    def error(field: str, message: str) -> None:
        errors.append({"field": f"{prefix}{field}", "message": message})

    for name in REQUIRED_EXPERIENCE_FIELDS:
        if record.get(name) is None:
            error(name, "may not be null")
    start, end = record.get("start_date"), record.get("end_date")
    if start is not None and not EARLIEST_DATE <= start <= today:
        error("start_date", f"must be between {EARLIEST_DATE.isoformat()} and today")
    if end is not None and end > today:
        error("end_date", "must not be in the future (mark the role current instead)")
    if start is not None and end is not None and end < start:
        error("end_date", "must be on or after start_date")
    if record.get("is_current") and end is not None:
        error("end_date", "a current role has no end_date")
    if record.get("is_current") is False and end is None:
        error("end_date", "required unless is_current is true")
    return errors


def check_experience(record: dict[str, Any], *, today: date) -> None:
    """:func:`experience_errors` as a 422 problem when there are any."""
    errors = experience_errors(record, today=today)
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)


class ExperienceQuery(RequestModel):
    """``GET /me/experiences``: filters and keyset pagination (newest start first).

    ``start_from``/``start_to``: roles active at some point in that range (a role overlaps
    the range). ``skill``: a skill attached to the role or one of its technologies.
    """

    company: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200, description="text in the title")
    skill: str | None = Field(default=None, max_length=100)
    start_from: date | None = None
    start_to: date | None = None
    is_current: bool | None = None
    employment_type: EmploymentType | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class DuplicateRequest(RequestModel):
    """``POST /me/experiences/<id>/duplicate``: copy the role, optionally with its skills."""

    include_skills: bool = True
    title: str | None = Field(default=None, min_length=1, max_length=200)


class ExtractSkillsRequest(RequestModel):
    """``POST /me/experiences/<id>/extract-skills``: ``save`` adds the new ones as skills."""

    save: bool = True


class ArchiveRequest(RequestModel):
    """``POST /me/experiences/<id>/archive``."""

    reason: str = Field(default="user request", min_length=1, max_length=100)


class ArchiveQuery(RequestModel):
    """``GET /me/experiences/archive``: newest archived first, keyset pagination."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class SkillFields(RequestModel):
    """Every field of a skill, all optional (the base of create and update)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    experience_id: str | None = Field(default=None, min_length=1, max_length=26)
    category: str | None = Field(default=None, max_length=50)
    proficiency_level: int | None = Field(default=None, ge=1, le=5)
    years_experience: Decimal | None = Field(default=None, ge=0, le=999, decimal_places=1)
    last_used: date | None = None
    is_primary: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("last_used")
    @classmethod
    def _last_used(cls, value: date | None) -> date | None:
        if value is not None and not EARLIEST_DATE <= value <= date.today():
            raise ValueError("must be between 1940-01-01 and today")
        return value


class SkillCreate(SkillFields):
    """A skill of mine, standalone or tied to one of my experiences (``experience_id``)."""

    name: str = Field(min_length=1, max_length=100)
    is_primary: bool = False


class SkillUpdate(SkillFields):
    """Fields to change; ``experience_id: null`` makes the skill standalone."""


class SkillQuery(RequestModel):
    """``GET /me/skills``: by name, with filters and keyset pagination."""

    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=50)
    experience_id: str | None = Field(default=None, max_length=26)
    standalone: bool | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class SkillsSummaryQuery(RequestModel):
    """``GET /me/skills/summary``: a window of the ranked list (``next_offset`` continues)."""

    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=100_000)


class QuickSummaryUpdate(RequestModel):
    """My career objective, shown with the tier-3 summary; null clears it."""

    career_objective: str | None = Field(default=None, max_length=500)
