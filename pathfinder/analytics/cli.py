"""``pathfinder analytics ...``: the analytics jobs, runnable once by hand.

The scheduler runs the same functions daily; these commands are for a backfill, a re-run
after a failure, or a deployment without the scheduler. Each prints a JSON summary.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import click
from flask.cli import AppGroup

from pathfinder.analytics.metrics import compute_all_career_metrics, compute_career_metrics
from pathfinder.analytics.overview import refresh_stats, rollup_daily_events
from pathfinder.cli.errors import dba_errors
from pathfinder.db import get_database
from pathfinder.schema.naming import normalize_username

analytics_group = AppGroup("analytics", help="Career metrics, event rollups, user statistics.")


def _day(value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


@analytics_group.command("career-metrics")
@click.option("--date", "on_date", default=None, help="Day to compute (default: today, UTC).")
@click.option("--user", "username", default=None, help="One user (default: every ready user).")
@dba_errors
def career_metrics_command(on_date: str | None, username: str | None) -> None:
    """Compute and store the computed career metrics for a day."""
    day = _day(on_date, datetime.now(UTC).date())
    database = get_database()
    if username is not None:
        metrics = compute_career_metrics(database, normalize_username(username), day)
        summary = {"date": day.isoformat(), "users": 1, "rows": len(metrics), "failures": {}}
    else:
        run = compute_all_career_metrics(database, day)
        summary = {
            "date": day.isoformat(),
            "users": run.users,
            "rows": run.rows,
            "failures": run.failures,
        }
    click.echo(json.dumps(summary, sort_keys=True))
    if summary["failures"]:
        raise SystemExit(1)


@analytics_group.command("rollup")
@click.option("--day", default=None, help="UTC day to roll up (default: yesterday).")
@click.option("--no-refresh", is_flag=True, help="Do not refresh pf_mv_user_stats first.")
@dba_errors
def rollup_command(day: str | None, no_refresh: bool) -> None:
    """Refresh the user statistics and print one day's event counts."""
    target = _day(day, datetime.now(UTC).date() - timedelta(days=1))
    rollup = rollup_daily_events(get_database(), target, refresh=not no_refresh)
    click.echo(json.dumps(rollup.as_json(), sort_keys=True))


@analytics_group.command("refresh-stats")
@dba_errors
def refresh_stats_command() -> None:
    """Recompute pf_mv_user_stats now."""
    refresh_stats(get_database())
    click.echo("pf_mv_user_stats refreshed")
