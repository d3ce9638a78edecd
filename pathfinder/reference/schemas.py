"""Request models of the reference routes (queries and admin edits)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from pathfinder.api.fields import collapse_spaces, omittable
from pathfinder.api.pagination import CURSOR_RULE, Cursor
from pathfinder.api.validation import RequestModel

MAX_ALIASES = 20
MAX_STAGES = 20
MAX_STAGE_SKILLS = 30
TERM_LENGTH = 100
PATH_KEY_PATTERN = r"^[a-z][a-z0-9_]{1,99}$"
PathKey = Annotated[str, StringConstraints(strip_whitespace=False, pattern=PATH_KEY_PATTERN)]
# An alias or a skill of a list; whitespace runs are collapsed, so the bound holds after too.
Term = Annotated[str, Field(max_length=TERM_LENGTH)]


def clean_terms(values: list[str] | None) -> list[str] | None:
    """Collapse whitespace, drop empties, de-duplicate case-insensitively, keep the order.

    Aliases and skill lists are compared case-insensitively everywhere (matching, alias
    collisions), so two spellings differing only in case would be one term anyway.
    """
    if values is None:
        return None
    seen: set[str] = set()
    out = []
    for value in values:
        term = collapse_spaces(value)
        if term and term.lower() not in seen:
            seen.add(term.lower())
            out.append(term)
    return out


def clean_name(value: str | None) -> str | None:
    """A display name with whitespace collapsed; blank is an error."""
    if value is None:
        return None
    value = collapse_spaces(value)
    if not value:
        raise ValueError("must not be blank")
    return value


class SkillCatalogQuery(RequestModel):
    """``GET /ref/skills``: substring search over names and aliases, category filter."""

    rules = (CURSOR_RULE,)

    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=50)
    limit: int = Field(default=50, ge=1, le=100)
    cursor: Cursor | None = None


class SkillCatalogCreate(RequestModel):
    """A new catalogue entry (admins)."""

    name: str = Field(min_length=1, max_length=TERM_LENGTH)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    aliases: list[Term] = Field(default_factory=list, max_length=MAX_ALIASES)
    description: str | None = Field(default=None, max_length=1000)
    is_active: bool = True

    _terms = field_validator("aliases")(clean_terms)
    _name = field_validator("name")(clean_name)


class SkillCatalogUpdate(RequestModel):
    """Fields of a catalogue entry to change (admins); absent fields stay.

    ``name`` and ``is_active`` may be changed but not cleared; they are not nullable.
    """

    name: str = omittable(min_length=1, max_length=TERM_LENGTH)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    aliases: list[Term] | None = Field(default=None, max_length=MAX_ALIASES)
    description: str | None = Field(default=None, max_length=1000)
    is_active: bool = omittable()

    _terms = field_validator("aliases")(clean_terms)
    _name = field_validator("name")(clean_name)


class CareerPathQuery(RequestModel):
    """``GET /ref/career-paths``: search in title and description, or one path by key."""

    rules = (CURSOR_RULE,)

    q: str | None = Field(default=None, max_length=100)
    key: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=50, ge=1, le=100)
    cursor: Cursor | None = None


class CareerStage(RequestModel):
    """One stage of a career path."""

    title: str = Field(min_length=1, max_length=200)
    typical_years: int | None = Field(default=None, ge=0, le=50)
    skills: list[Term] = Field(default_factory=list, max_length=MAX_STAGE_SKILLS)
    summary: str | None = Field(default=None, max_length=1000)

    _skills = field_validator("skills")(clean_terms)


class CareerPathCreate(RequestModel):
    """A new career path (admins)."""

    path_key: PathKey
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    stages: list[CareerStage] = Field(min_length=1, max_length=MAX_STAGES)
    required_skills: list[Term] = Field(default_factory=list, max_length=MAX_STAGE_SKILLS)
    typical_years: int | None = Field(default=None, ge=0, le=60)

    _required = field_validator("required_skills")(clean_terms)


class CareerPathUpdate(RequestModel):
    """Fields of a career path to change (admins); absent fields stay.

    ``path_key``, ``title`` and ``stages`` may be changed but not cleared; not nullable.
    """

    path_key: PathKey = omittable()
    title: str = omittable(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    stages: list[CareerStage] = omittable(min_length=1, max_length=MAX_STAGES)
    required_skills: list[Term] | None = Field(default=None, max_length=MAX_STAGE_SKILLS)
    typical_years: int | None = Field(default=None, ge=0, le=60)

    _required = field_validator("required_skills")(clean_terms)
