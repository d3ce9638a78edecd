"""Response bodies of the reference routes, as the contract declares them.

They mirror :func:`pathfinder.reference.service.serialise_skill`,
:func:`~pathfinder.reference.service.serialise_path` and the category list; with
``CHECK_CONTRACTS`` on, the reference tests fail when code and models drift apart, and the
OpenAPI document is generated from these models.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pathfinder.api.contract import Page, ResponseModel


class RefSkill(ResponseModel):
    """A skills-catalogue entry; its name and aliases belong to it alone."""

    id: str
    name: str
    category: str | None
    aliases: list[str] = Field(description="Other spellings matched as this skill.")
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class RefSkillPage(Page[RefSkill]):
    limit: int


class RefSkillCategory(ResponseModel):
    category: str
    skills: int = Field(description="Active catalogue entries in the category.")


class RefSkillCategoryList(ResponseModel):
    """Every category of active entries, by name."""

    items: list[RefSkillCategory]


class RefCareerStage(ResponseModel):
    """One stage of a career path, in the path's order."""

    title: str
    typical_years: int | None = Field(description="Years usually spent in the stage.")
    skills: list[str] = Field(description="Catalogue names of the skills the stage builds.")
    summary: str | None


class RefCareerPath(ResponseModel):
    id: str
    path_key: str = Field(description="Stable lower-case key, e.g. `software_engineer`.")
    title: str
    description: str | None
    typical_years: int | None = Field(description="Years the whole path usually takes.")
    required_skills: list[str]
    stages: list[RefCareerStage]
    created_at: datetime
    updated_at: datetime


class RefCareerPathPage(Page[RefCareerPath]):
    limit: int
