"""Response models of the career routes: what experiences, skills and summaries answer.

The services build plain dicts (``serialise_experience``, ``serialise_skill``,
``SkillTotal.as_json``, the summary serialisers); these models state the shape of those
dicts once, for the OpenAPI document and for the contract check the test suite runs on
every answer. A field the serialisers add without a model here breaks the suite, so the
document cannot drift from the code.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from pathfinder.api.contract import Page, ResponseModel, SealedItem
from pathfinder.schema.tenant import EMPLOYMENT_TYPES, ROLE_LEVELS, SKILL_SOURCES

EmploymentType = Literal[EMPLOYMENT_TYPES]  # type: ignore[valid-type]
RoleLevel = Literal[ROLE_LEVELS]  # type: ignore[valid-type]
SkillSource = Literal[SKILL_SOURCES]  # type: ignore[valid-type]

_PAGE_LIMIT = "The page size used for this page (the `limit` asked for, or its default)."
_YEARS = (
    "Years as a number with one decimal: days / 365.25, rounded half-up; overlapping "
    "periods count once."
)
_COMPUTED_AT = "When the summary was computed; null when nothing has been recorded yet."
_IS_STALE = "True while a rebuild is pending."


# -- experiences -------------------------------------------------------------------------------


class CareerExperience(SealedItem):
    """One of my experiences (tier 1), with its encrypted fields decrypted."""

    id: str
    title: str
    company: str | None
    department: str | None
    location: str | None
    employment_type: EmploymentType
    role_level: RoleLevel | None
    industry: str | None
    start_date: date
    end_date: date | None = Field(description="Null for a current role.")
    is_current: bool
    description: str | None
    key_achievements: list[str]
    technologies: list[str]
    team_size: int | None
    created_at: datetime
    updated_at: datetime


class CareerArchivedExperience(CareerExperience):
    """An experience in my archive: the role as it was, and when and why it moved there."""

    archived_at: datetime
    archive_reason: str = Field(
        description="Why it was archived: the reason sent (`user request` by default), or "
        "`retention` when the retention job moved it."
    )


class CareerExperiencePage(Page[CareerExperience]):
    """One page of my experiences, newest start first."""

    limit: int = Field(description=_PAGE_LIMIT)


class CareerArchivePage(Page[CareerArchivedExperience]):
    """One page of my archived experiences, most recently archived first."""

    limit: int = Field(description=_PAGE_LIMIT)


class CareerExperienceBatch(ResponseModel):
    """The experiences a bulk create added, in the order they were sent."""

    items: list[CareerExperience]


# -- skills ------------------------------------------------------------------------------------


class CareerSkill(ResponseModel):
    """One of my skills, standalone (``experience_id`` null) or tied to an experience."""

    id: str
    name: str = Field(description="As the skills catalogue spells it, when catalogued.")
    category: str | None
    experience_id: str | None = Field(description="Null for a standalone skill.")
    proficiency_level: int | None = Field(ge=1, le=5, description="1 (beginner) to 5 (expert).")
    years_experience: float | None = Field(
        ge=0, description="Years of use declared (or kept from archived roles), one decimal."
    )
    last_used: date | None
    is_primary: bool
    source: SkillSource = Field(
        description="`manual` (added by me), `extracted` (found in an experience's text) or "
        "`imported`."
    )
    created_at: datetime
    updated_at: datetime


class CareerSkillPage(Page[CareerSkill]):
    """One page of my skills, by name."""

    limit: int = Field(description=_PAGE_LIMIT)


class CareerExperienceSkillPage(CareerSkillPage):
    """One page of the skills tied to one experience, by name."""

    experience_id: str


class CareerSkillMatch(ResponseModel):
    """A catalogued skill found in an experience's text."""

    name: str = Field(description="The catalogue's name of the skill.")
    category: str | None
    matched: str = Field(description="The spelling found in the text (a name or an alias).")
    already_present: bool = Field(description="The experience already has a skill of that name.")


class CareerSkillExtraction(ResponseModel):
    """Skills found in an experience's text, and the ones saved as new skills."""

    experience_id: str
    found: list[CareerSkillMatch] = Field(description="In order of first appearance.")
    added: list[CareerSkill] = Field(
        description="The skills created (source `extracted`); empty unless `save` is true."
    )


class CareerSkillTotal(ResponseModel):
    """One skill across my whole career (names grouped through the skills catalogue)."""

    name: str
    category: str | None
    total_years: float = Field(
        description=f"{_YEARS} The larger of the roles' years and the years declared."
    )
    last_used: date | None = Field(
        description="The latest of the declared `last_used` and the end of the roles using "
        "it (today for a current role)."
    )
    experience_count: int = Field(description="Number of roles the skill is tied to.")
    is_primary: bool
    proficiency_level: int | None = Field(ge=1, le=5, description="Highest level declared.")


class CareerSkillsSummary(ResponseModel):
    """A window of my skills ranked: primary first, then most years, latest use, name."""

    items: list[CareerSkillTotal]
    total: int = Field(description="Number of skills in the whole ranking.")
    next_offset: int | None = Field(
        description="Pass as `offset` for the next window; null on the last one."
    )


# -- summaries ---------------------------------------------------------------------------------


class CareerIndustry(ResponseModel):
    name: str
    years: float = Field(description=_YEARS)


class CareerRoleStep(ResponseModel):
    """One role of the career progression (plain columns only, nothing encrypted)."""

    title: str
    company: str | None
    role_level: RoleLevel | None
    employment_type: EmploymentType
    start_date: date
    end_date: date | None
    is_current: bool


class CareerProfileSummary(ResponseModel):
    """Tier 2: my career profile, recomputed with every change to experiences or skills."""

    total_years: float = Field(description=_YEARS)
    total_roles: int
    industries: list[CareerIndustry] = Field(description="Most years first.")
    top_skills: list[CareerSkillTotal] = Field(description="The ten highest-ranked skills.")
    leadership_highlights: list[str] = Field(
        description="Up to five roles at lead level or above, most recent first."
    )
    technical_highlights: list[str] = Field(
        description="Up to five roles with their technologies, most recent first."
    )
    career_progression: list[CareerRoleStep] = Field(description="Every role, oldest first.")
    career_highlights: list[str] = Field(
        description="Up to three lines: longest role, largest team led, rise in level."
    )
    computed_at: datetime | None = Field(description=_COMPUTED_AT)
    is_stale: bool = Field(description=_IS_STALE)


class CareerQuickSummary(SealedItem):
    """Tier 3: my headline, current role, years, key strengths and my career objective."""

    headline: str = Field(max_length=300)
    current_title: str | None = Field(description="Null when no role is current.")
    current_company: str | None
    total_years: float = Field(description=_YEARS)
    total_roles: int
    key_strengths: list[str] = Field(description="Up to five one-line strengths.")
    top_skills: list[str] = Field(description="The names of the five highest-ranked skills.")
    career_objective: str | None = Field(
        description="What I am aiming for, in my words (set with PATCH; stored encrypted)."
    )
    computed_at: datetime | None = Field(description=_COMPUTED_AT)
    is_stale: bool = Field(description=_IS_STALE)


class CareerTotals(ResponseModel):
    """Totals over my experiences (the ``career_summary`` view; archived roles excluded)."""

    total_roles: int
    total_companies: int = Field(description="Distinct company names.")
    current_roles: int
    first_start_date: date | None = Field(description="Null when there are no experiences.")
    last_end_date: date | None = Field(description="The latest end date of a past role.")
    total_years_experience: float = Field(
        description="Years covered by any role, overlaps counted once, current roles to today."
    )
