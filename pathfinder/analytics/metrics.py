"""Computed career metrics and the chart-ready trajectory.

The metrics job calls :func:`compute_career_metrics` (one user) or
:func:`compute_all_career_metrics` (every provisioned user) once a day. Each run upserts one
row per computed metric type for the day, so re-running a day replaces its figures and the
history of daily rows is the time series the trajectory charts:

``experience_years``       years of experience as of the day, overlapping roles counted once;
                           details: roles, companies, current roles
``experience_growth_12m``  years of experience gained in the 12 months before the day
``roles_total``            roles started by the day; details: count per role level
``skills_total``           distinct skills (by name, case-insensitive) recorded by the day;
                           details: ``by_category`` counts

Skills count from the day they were recorded (``created_at``), so computing a past day
reproduces what the profile held then, as far as the data can tell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.analytics import repo
from pathfinder.analytics.career import (
    ROLE_LEVEL_RANK,
    Period,
    experience_growth,
    experience_years,
)
from pathfinder.db.database import Database, TenantNotProvisioned
from pathfinder.schema.shared.system import tenant_provisioning
from pathfinder.schema.tenant import TenantTables

UNCATEGORISED = "uncategorized"
# Rows a trajectory reads at most per series kind: a daily metric over 10 years is ~3,650.
MAX_TRAJECTORY_ROWS = 5_000


def period_of(row: Mapping[str, Any]) -> Period:
    """An experience row's span: open while current or without an end date."""
    end = None if row["is_current"] else row["end_date"]
    return Period(row["start_date"], end)


def career_metrics(
    experiences: Sequence[Mapping[str, Any]],
    skills: Sequence[Mapping[str, Any]],
    on_date: date,
) -> dict[str, tuple[float, dict[str, Any]]]:
    """The computed metrics for ``on_date`` from tier-1 rows: ``{type: (value, details)}``."""
    started = [row for row in experiences if row["start_date"] <= on_date]
    periods = [period_of(row) for row in started]
    current = [
        row
        for row in started
        if row["is_current"] or row["end_date"] is None or row["end_date"] >= on_date
    ]
    companies = {str(row["company"]).strip().lower() for row in started if row["company"]}
    levels = Counter(row["role_level"] or "unspecified" for row in started)

    categories: dict[str, str] = {}
    for row in skills:
        created = row["created_at"]
        if created is not None and created.date() > on_date:
            continue
        key = str(row["name"]).strip().lower()
        category = (row["category"] or "").strip().lower()
        if key not in categories or (categories[key] == UNCATEGORISED and category):
            categories[key] = category or UNCATEGORISED
    by_category = dict(sorted(Counter(categories.values()).items()))

    return {
        "experience_years": (
            experience_years(periods, on_date),
            {"roles": len(started), "companies": len(companies), "current_roles": len(current)},
        ),
        "experience_growth_12m": (experience_growth(periods, on_date), {"window_months": 12}),
        "roles_total": (float(len(started)), {"by_level": dict(sorted(levels.items()))}),
        "skills_total": (float(len(categories)), {"by_category": by_category}),
    }


def store_career_metrics(
    conn: Connection, tables: TenantTables, on_date: date, now: datetime | None = None
) -> dict[str, tuple[float, dict[str, Any]]]:
    """Compute ``on_date``'s metrics from the user's tables and upsert them, on ``conn``."""
    now = now or datetime.now(UTC)
    metrics = career_metrics(
        repo.experience_periods(conn, tables), repo.skill_rows(conn, tables), on_date
    )
    for metric_type, (value, details) in metrics.items():
        repo.upsert_metric(
            conn,
            tables,
            metric_date=on_date,
            metric_type=metric_type,
            metric_value=Decimal(str(value)),
            details=details,
            now=now,
        )
    return metrics


def compute_career_metrics(
    db: Database, username: str, on_date: date
) -> dict[str, tuple[float, dict[str, Any]]]:
    """Compute and store one user's metrics for ``on_date``, in one transaction (job entry).

    Raises :class:`TenantNotProvisioned` when the user's tables are not ready (checked in
    the provisioning registry, so every back-end answers alike).
    """
    with db.tenant_transaction(username) as (conn, tables):
        state = conn.execute(
            sa.select(tenant_provisioning.c.state).where(
                tenant_provisioning.c.username == tables.username
            )
        ).scalar()
        if state != "ready":
            raise TenantNotProvisioned(f"{tables.username} has no ready tables")
        return store_career_metrics(conn, tables, on_date)


@dataclass
class MetricsRun:
    """What :func:`compute_all_career_metrics` did: users done, and failures by user."""

    on_date: date
    users: int = 0
    rows: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def compute_all_career_metrics(db: Database, on_date: date) -> MetricsRun:
    """Compute ``on_date``'s metrics for every user whose tables are ready.

    One transaction per user, so one user's failure (recorded in the result with its error
    class, never its data) neither stops nor undoes the others. Re-running is harmless.
    """
    with db.transaction() as conn:
        usernames = list(
            conn.execute(
                sa.select(tenant_provisioning.c.username)
                .where(tenant_provisioning.c.state == "ready")
                .order_by(tenant_provisioning.c.username)
            ).scalars()
        )
    run = MetricsRun(on_date)
    for username in usernames:
        try:
            metrics = compute_career_metrics(db, username, on_date)
        except (sa.exc.SQLAlchemyError, TenantNotProvisioned) as exc:
            run.failures[username] = type(exc).__name__
            continue
        run.users += 1
        run.rows += len(metrics)
    return run


def _number(value: Any) -> float:
    return float(value) if isinstance(value, Decimal) else float(value or 0)


def trajectory(
    conn: Connection,
    tables: TenantTables,
    *,
    date_from: date | None,
    date_to: date,
    metric_types: list[str] | None,
) -> dict[str, Any]:
    """A chart-ready time series of the career between ``date_from`` and ``date_to``.

    ``metrics``: one series per metric type, points ``{date, value}`` oldest first.
    ``skills_by_category``: one series per skill category from ``skills_total``'s details.
    ``skills``: one series per assessed skill from ``skills_progression``, points
    ``{date, level, source}``. ``roles``: the experiences overlapping the range, oldest
    first, with a numeric ``level_rank`` for a y-axis. ``truncated`` says whether the
    newest :data:`MAX_TRAJECTORY_ROWS` rows of a kind did not cover the whole range.
    """
    metric_rows = repo.metric_series(
        conn,
        tables,
        metric_types=metric_types,
        date_from=date_from,
        date_to=date_to,
        limit=MAX_TRAJECTORY_ROWS,
    )
    series: dict[str, list[dict[str, Any]]] = {}
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in metric_rows:
        day = row["metric_date"].isoformat()
        series.setdefault(row["metric_type"], []).append(
            {"date": day, "value": _number(row["metric_value"])}
        )
        details = row["details"]
        if row["metric_type"] == "skills_total" and isinstance(details, dict):
            counts = details.get("by_category")
            if isinstance(counts, dict):
                for category, count in counts.items():
                    by_category.setdefault(str(category), []).append(
                        {"date": day, "value": _number(count)}
                    )

    progression_rows = repo.progression_series(
        conn, tables, date_from=date_from, date_to=date_to, limit=MAX_TRAJECTORY_ROWS
    )
    skills: dict[str, dict[str, Any]] = {}
    for row in progression_rows:
        key = row["skill_name"].strip().lower()
        entry = skills.setdefault(key, {"skill_name": row["skill_name"], "points": []})
        entry["points"].append(
            {
                "date": row["assessed_on"].isoformat(),
                "level": int(row["proficiency_level"]),
                "source": row["assessment_source"],
            }
        )

    roles = []
    for row in repo.experience_periods(conn, tables):
        end = None if row["is_current"] else row["end_date"]
        if row["start_date"] > date_to or (
            date_from is not None and end is not None and end < date_from
        ):
            continue
        roles.append(
            {
                "id": row["id"],
                "title": row["title"],
                "company": row["company"],
                "role_level": row["role_level"],
                "level_rank": ROLE_LEVEL_RANK.get(row["role_level"] or ""),
                "start_date": row["start_date"].isoformat(),
                "end_date": end.isoformat() if end else None,
                "is_current": bool(row["is_current"]),
            }
        )

    return {
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat(),
        "metrics": [{"metric_type": k, "points": v} for k, v in sorted(series.items())],
        "skills_by_category": [
            {"category": k, "points": v} for k, v in sorted(by_category.items())
        ],
        "skills": [skills[k] for k in sorted(skills)],
        "roles": roles,
        "truncated": len(metric_rows) >= MAX_TRAJECTORY_ROWS
        or len(progression_rows) >= MAX_TRAJECTORY_ROWS,
    }
