"""A fixture career written straight into a user's tables.

The experiences/skills API is built alongside this work; until it lands, these helpers
write tier-1 rows through the user's own Table objects (no encrypted column is set, so no
sealing is needed). The career has overlapping jobs, so "overlaps counted once" matters:

=================  ==========================  =========================  ===========
company            title                       dates                      level
=================  ==========================  =========================  ===========
Acme Corp          Software Engineer           2015-01-01 .. 2018-12-31   intermediate
Beta Analytics     Data Engineer               2018-06-01 .. 2021-05-31   senior
Gamma Health       Lead Data Engineer          2021-06-01 .. 2023-12-31   lead
=================  ==========================  =========================  ===========

Hand-computed: Acme and Beta overlap for seven months, so 2015-01-01 .. 2021-05-31 is 2,342
days; Gamma adds 943 days: 3,285 days = 9.0 years (the naive sum would be 9.6).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pathfinder.db import Database
from pathfinder.ids import new_id

FIXED_SKILL_TIME = datetime(2020, 1, 1, tzinfo=UTC)


def add_experience(db: Database, username: str, **fields: Any) -> str:
    row_id = new_id()
    now = datetime.now(UTC)
    values = {
        "id": row_id,
        "employment_type": "full_time",
        "is_current": False,
        "end_date": None,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    with db.tenant_transaction(username) as (conn, tables):
        conn.execute(tables.experiences.insert().values(**values))
    return row_id


def add_skill(db: Database, username: str, name: str, **fields: Any) -> str:
    row_id = new_id()
    values = {
        "id": row_id,
        "name": name,
        "is_primary": False,
        "created_at": FIXED_SKILL_TIME,
        "updated_at": FIXED_SKILL_TIME,
        **fields,
    }
    with db.tenant_transaction(username) as (conn, tables):
        conn.execute(tables.skills.insert().values(**values))
    return row_id


def overlapping_career(db: Database, username: str) -> dict[str, str]:
    """The career in the module docstring, with skills; returns experience ids by company."""
    ids = {
        "acme": add_experience(
            db,
            username,
            title="Software Engineer",
            company="Acme Corp",
            industry="Software",
            role_level="intermediate",
            start_date=date(2015, 1, 1),
            end_date=date(2018, 12, 31),
            technologies=["Python", "SQL"],
        ),
        "beta": add_experience(
            db,
            username,
            title="Data Engineer",
            company="Beta Analytics",
            industry="Analytics",
            role_level="senior",
            start_date=date(2018, 6, 1),
            end_date=date(2021, 5, 31),
            technologies=["Python", "Spark"],
        ),
        "gamma": add_experience(
            db,
            username,
            title="Lead Data Engineer",
            company="Gamma Health",
            industry="Healthcare",
            role_level="lead",
            start_date=date(2021, 6, 1),
            end_date=date(2023, 12, 31),
            technologies=["Python", "Airflow"],
        ),
    }
    add_skill(
        db,
        username,
        "Python",
        category="programming",
        proficiency_level=5,
        years_experience=8,
        is_primary=True,
    )
    add_skill(db, username, "SQL", category="data", proficiency_level=4)
    add_skill(
        db, username, "Spark", category="data", proficiency_level=3, experience_id=ids["beta"]
    )
    add_skill(db, username, "Leadership", category="soft skills", experience_id=ids["gamma"])
    return ids
