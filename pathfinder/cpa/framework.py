"""The competency framework as versioned reference data: seeding and reading it.

``pathfinder db init`` calls :func:`seed_frameworks`, which inserts whatever rule set or
competency is missing and leaves existing rows alone, so running it again is harmless and
an administrator's later correction of a descriptor is not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.cpa.framework_data import (
    ENABLING_QUESTIONS,
    FRAMEWORKS,
    TECHNICAL_QUESTIONS,
    FrameworkSeed,
)
from pathfinder.cpa.rules import CompetencyRef, Rules
from pathfinder.schema.shared.cpa import competencies, frameworks


@dataclass(frozen=True)
class Framework:
    """A rule set read from the database: its row, rules and competencies in order."""

    version: str
    row: dict[str, Any]
    rules: Rules
    competencies: tuple[dict[str, Any], ...]

    def competency(self, code: str) -> dict[str, Any] | None:
        """The competency ``code`` of this framework, or None."""
        for item in self.competencies:
            if item["code"] == code:
                return item
        return None

    @property
    def refs(self) -> tuple[CompetencyRef, ...]:
        """The competencies as the progress engine takes them."""
        return tuple(
            CompetencyRef(c["code"], c["kind"], c["area_code"], c["name"])
            for c in self.competencies
        )

    @property
    def order(self) -> dict[str, int]:
        """Sort position of each code (reports list competencies in framework order)."""
        return {c["code"]: c["sort_order"] for c in self.competencies}


def seed_frameworks(conn: Connection, seeds: tuple[FrameworkSeed, ...] = FRAMEWORKS) -> int:
    """Insert missing frameworks and competencies; return how many rows were inserted."""
    now = datetime.now(UTC)
    inserted = 0
    known = set(conn.execute(sa.select(frameworks.c.framework_version)).scalars())
    for seed in seeds:
        if seed.version not in known:
            conn.execute(
                frameworks.insert().values(
                    framework_version=seed.version,
                    name=seed.name,
                    description=seed.description,
                    effective_from=seed.effective_from,
                    effective_until=seed.effective_until,
                    rules=seed.rules,
                    source_url=seed.source_url,
                    created_at=now,
                    updated_at=now,
                )
            )
            inserted += 1
        have = set(
            conn.execute(
                sa.select(competencies.c.code).where(
                    competencies.c.framework_version == seed.version
                )
            ).scalars()
        )
        for order, item in enumerate(seed.competencies, start=1):
            if item.code in have:
                continue
            questions = ENABLING_QUESTIONS if item.kind == "enabling" else TECHNICAL_QUESTIONS
            conn.execute(
                competencies.insert().values(
                    framework_version=seed.version,
                    code=item.code,
                    kind=item.kind,
                    area_code=item.area_code,
                    area_name=seed.areas[item.area_code],
                    name=item.name,
                    aliases=list(item.aliases),
                    level0_descriptor=item.level0,
                    level1_descriptor=item.level1,
                    level2_descriptor=item.level2,
                    guiding_questions=[item.focus_question, *questions],
                    sort_order=order,
                    created_at=now,
                    updated_at=now,
                )
            )
            inserted += 1
    return inserted


def framework_versions(conn: Connection) -> list[dict[str, Any]]:
    """Every framework row, oldest first."""
    rows = conn.execute(sa.select(frameworks).order_by(frameworks.c.effective_from)).mappings()
    return [dict(r) for r in rows]


def load_framework(conn: Connection, version: str) -> Framework | None:
    """The framework ``version`` with its competencies, or None when it does not exist."""
    row = (
        conn.execute(sa.select(frameworks).where(frameworks.c.framework_version == version))
        .mappings()
        .first()
    )
    if row is None:
        return None
    items = conn.execute(
        sa.select(competencies)
        .where(competencies.c.framework_version == version)
        .order_by(competencies.c.sort_order, competencies.c.code)
    ).mappings()
    return Framework(
        version=version,
        row=dict(row),
        rules=Rules.from_json(row["rules"]),
        competencies=tuple(dict(i) for i in items),
    )


def default_version(conn: Connection, on: date | None = None) -> str | None:
    """The framework in force on ``on`` (today by default); else the newest one."""
    on = on or date.today()
    rows = framework_versions(conn)
    in_force = [
        r
        for r in rows
        if r["effective_from"] <= on and (r["effective_until"] is None or on < r["effective_until"])
    ]
    chosen = in_force or rows
    return str(chosen[-1]["framework_version"]) if chosen else None


def serialise_framework(framework: Framework) -> dict[str, Any]:
    """The framework as ``GET /cpa/framework`` answers it: areas with their competencies."""
    row = framework.row
    areas: dict[str, dict[str, Any]] = {}
    enabling: list[dict[str, Any]] = []
    for item in framework.competencies:
        entry = {
            "code": item["code"],
            "name": item["name"],
            "aliases": item["aliases"] or [],
            "levels": {
                "0": item["level0_descriptor"],
                "1": item["level1_descriptor"],
                "2": item["level2_descriptor"],
            },
            "guiding_questions": item["guiding_questions"] or [],
        }
        if item["kind"] == "enabling":
            enabling.append(entry)
            continue
        area = areas.setdefault(
            item["area_code"],
            {"code": item["area_code"], "name": item["area_name"], "sub_competencies": []},
        )
        area["sub_competencies"].append(entry)
    return {
        "framework_version": framework.version,
        "name": row["name"],
        "description": row["description"],
        "effective_from": row["effective_from"].isoformat(),
        "effective_until": (
            row["effective_until"].isoformat() if row["effective_until"] is not None else None
        ),
        "source_url": row["source_url"],
        "rules": row["rules"],
        "proficiency_levels": {
            "0": "Retrieval and comprehension: gathering, recording and explaining.",
            "1": "Analysis: routine work of low to moderate complexity, reviewed by others.",
            "2": "Knowledge utilisation: evaluating, advising and deciding at the level of a "
            "newly qualified CPA, with significant judgment and autonomy.",
        },
        "technical_areas": list(areas.values()),
        "enabling_competencies": enabling,
    }
