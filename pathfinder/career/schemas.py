"""Request models of the career routes: experiences, skills, archive, lists.

Field rules live here (lengths, enumerations from :mod:`pathfinder.schema.tenant`, list
bounds); rules that span fields (dates, ``is_current``) are checked on the *merged* record
by :func:`check_experience`, so a partial update is judged with the values it keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from pathfinder.api.fields import Id, IsoDate, collapse_spaces, decimal_number, omittable
from pathfinder.api.pagination import CURSOR_RULE, Cursor
from pathfinder.api.validation import RequestModel, Rule, ValidationProblem
from pathfinder.career.tenancy import utc_today
from pathfinder.reference.schemas import Term, clean_terms
from pathfinder.schema.tenant import EMPLOYMENT_TYPES, ROLE_LEVELS

EmploymentType = Literal[EMPLOYMENT_TYPES]  # type: ignore[valid-type]
RoleLevel = Literal[ROLE_LEVELS]  # type: ignore[valid-type]
SkillSource = Literal["manual", "extracted", "imported"]

MAX_TECHNOLOGIES = 50
MAX_ACHIEVEMENTS = 30
MAX_BULK = 50
EARLIEST_DATE = date(1940, 1, 1)
ACHIEVEMENT_LENGTH = 1000
Achievement = Annotated[str, Field(max_length=ACHIEVEMENT_LENGTH)]


def _clean_achievements(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [cleaned for cleaned in (collapse_spaces(v) for v in values) if cleaned]


def _start_bounds(values: Mapping[str, Any]) -> str | None:
    start = values["start_date"]
    if start is not None and not EARLIEST_DATE <= start <= utc_today():
        return f"must be between {EARLIEST_DATE.isoformat()} and today"
    return None


def _end_not_future(values: Mapping[str, Any]) -> str | None:
    end = values["end_date"]
    if end is not None and end > utc_today():
        return "must not be in the future (mark the role current instead)"
    return None


def _end_after_start(values: Mapping[str, Any]) -> str | None:
    start, end = values["start_date"], values["end_date"]
    if start is not None and end is not None and end < start:
        return "must be on or after start_date"
    return None


def _current_has_no_end(values: Mapping[str, Any]) -> str | None:
    if values["is_current"] and values["end_date"] is not None:
        return "a current role has no end_date"
    return None


def _past_has_end(values: Mapping[str, Any]) -> str | None:
    if values["is_current"] is False and values["end_date"] is None:
        return "required unless is_current is true"
    return None


# The rules of a whole experience: checked as a new one is parsed, and by the service on
# the merged record of an update (the values it keeps count too).
EXPERIENCE_RULES = (
    Rule("start_date", "between 1940-01-01 and today (UTC)", ("start_date",), _start_bounds),
    Rule("end_date", "not in the future (UTC)", ("end_date",), _end_not_future),
    Rule("end_date", "on or after `start_date`", ("start_date", "end_date"), _end_after_start),
    Rule(
        "end_date",
        "absent when `is_current` is true",
        ("is_current", "end_date"),
        _current_has_no_end,
    ),
    Rule(
        "end_date",
        "required unless `is_current` is true",
        ("is_current", "end_date"),
        _past_has_end,
    ),
)


class ExperienceFields(RequestModel):
    """Every field of an experience, all optional (the base of create and update).

    ``title``, ``employment_type``, ``start_date`` and ``is_current`` may be changed but
    never cleared: they are not nullable. The others are cleared with ``null``.
    """

    title: str = omittable(min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    employment_type: EmploymentType = omittable()
    role_level: RoleLevel | None = None
    industry: str | None = Field(default=None, max_length=100)
    start_date: IsoDate = omittable()
    end_date: IsoDate | None = None
    is_current: bool = omittable()
    description: str | None = Field(default=None, max_length=10_000)
    key_achievements: list[Achievement] | None = Field(default=None, max_length=MAX_ACHIEVEMENTS)
    technologies: list[Term] | None = Field(default=None, max_length=MAX_TECHNOLOGIES)
    team_size: int | None = Field(default=None, ge=0, le=1_000_000)

    _technologies = field_validator("technologies")(clean_terms)
    _achievements = field_validator("key_achievements")(_clean_achievements)


class ExperienceCreate(ExperienceFields):
    """A new experience: ``title``, ``employment_type`` and ``start_date`` are required."""

    rules = EXPERIENCE_RULES

    title: str = Field(min_length=1, max_length=200)
    employment_type: EmploymentType = "full_time"
    start_date: IsoDate
    is_current: bool = False


class ExperienceUpdate(ExperienceFields):
    """Fields to change; absent fields keep their value, ``null`` clears optional ones."""

    # Checked by the service on the merged record (check_experience), not on the fields
    # sent: `"is_current": false` alone on a current role is missing its end_date.
    rules = tuple(
        Rule(rule.field, f"{rule.says}, on the experience as changed (sent or kept)")
        for rule in EXPERIENCE_RULES
    )


class BulkExperienceCreate(RequestModel):
    """Up to :data:`MAX_BULK` experiences created in one transaction (all or none)."""

    items: list[ExperienceCreate] = Field(min_length=1, max_length=MAX_BULK)


REQUIRED_EXPERIENCE_FIELDS = ("title", "employment_type", "start_date", "is_current")


def experience_errors(record: Mapping[str, Any], *, prefix: str = "") -> list[dict[str, str]]:
    """:data:`EXPERIENCE_RULES` broken by a complete (merged) experience, as field errors.

    A past role needs an ``end_date``: its length counts in the summaries, so "ended at an
    unknown date" would make them guesswork.
    """
    values = {name: record.get(name) for name in REQUIRED_EXPERIENCE_FIELDS + ("end_date",)}
    errors = []
    for rule in EXPERIENCE_RULES:
        message = rule.check(values) if rule.check is not None else None
        if message is not None:
            errors.append({"field": f"{prefix}{rule.field}", "message": message})
    return errors


def check_experience(record: Mapping[str, Any]) -> None:
    """:func:`experience_errors` as a 422 problem when there are any."""
    errors = experience_errors(record)
    if errors:
        raise ValidationProblem("One or more fields are invalid.", errors=errors)


class ExperienceQuery(RequestModel):
    """``GET /me/experiences``: filters and keyset pagination (newest start first).

    ``start_from``/``start_to``: roles active at some point in that range (a role overlaps
    the range). ``skill``: a skill attached to the role or one of its technologies.
    """

    rules = (
        CURSOR_RULE,
        Rule(
            "start_to",
            "on or after `start_from`",
            ("start_from", "start_to"),
            lambda values: (
                "must be on or after start_from"
                if values["start_from"]
                and values["start_to"]
                and values["start_to"] < values["start_from"]
                else None
            ),
        ),
    )

    company: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200, description="text in the title")
    skill: str | None = Field(default=None, max_length=100)
    start_from: IsoDate | None = None
    start_to: IsoDate | None = None
    is_current: bool | None = None
    employment_type: EmploymentType | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None


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

    rules = (CURSOR_RULE,)

    limit: int = Field(default=20, ge=1, le=100)
    cursor: Cursor | None = None


def _last_used_bounds(values: Mapping[str, Any]) -> str | None:
    value = values["last_used"]
    if value is not None and not EARLIEST_DATE <= value <= utc_today():
        return "must be between 1940-01-01 and today"
    return None


LAST_USED_RULE = Rule(
    "last_used", "between 1940-01-01 and today (UTC)", ("last_used",), _last_used_bounds
)


class SkillFields(RequestModel):
    """Every field of a skill, all optional (the base of create and update).

    ``name`` and ``is_primary`` may be changed but never cleared: they are not nullable.
    """

    rules = (LAST_USED_RULE,)

    name: str = omittable(min_length=1, max_length=100)
    experience_id: Id | None = None
    category: str | None = Field(default=None, max_length=50)
    proficiency_level: int | None = Field(default=None, ge=1, le=5)
    years_experience: decimal_number(places=1, minimum=0, maximum=999) | None = None  # type: ignore[valid-type]
    last_used: IsoDate | None = None
    is_primary: bool = omittable()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return collapse_spaces(value)


class SkillCreate(SkillFields):
    """A skill of mine, standalone or tied to one of my experiences (``experience_id``)."""

    name: str = Field(min_length=1, max_length=100)
    is_primary: bool = False


class SkillUpdate(SkillFields):
    """Fields to change; ``experience_id: null`` makes the skill standalone."""


class SkillQuery(RequestModel):
    """``GET /me/skills``: by name, with filters and keyset pagination."""

    rules = (CURSOR_RULE,)

    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=50)
    experience_id: Id | None = None
    standalone: bool | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: Cursor | None = None


class SkillsSummaryQuery(RequestModel):
    """``GET /me/skills/summary``: a window of the ranked list (``next_offset`` continues)."""

    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=100_000)


class QuickSummaryUpdate(RequestModel):
    """My career objective, shown with the tier-3 summary; null clears it."""

    career_objective: str | None = Field(default=None, max_length=500)
