"""The dashboard: active users and events per day from the stats view, as charts."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pathfinder.analytics import overview
from pathfinder.console.blueprint import bp, page, principal
from pathfinder.console.charts import bar_chart
from pathfinder.db import get_database

WINDOWS = (7, 30, 90)


@bp.get("/")
@page("admin")
def dashboard() -> ResponseReturnValue:
    """DAU/WAU/MAU (the ``pf_mv_user_stats`` snapshot) and events per day."""
    days = request.args.get("days", type=int) or 30
    if days not in WINDOWS:
        days = 30
    data = overview.overview(get_database(), days)
    users = data["active_users"]
    active = bar_chart(
        [("Daily", users["dau"]), ("Weekly", users["wau"]), ("Monthly", users["mau"])],
        title="Active users",
        chart_id="active",
    )
    per_day = data["events_by_day"]
    events = bar_chart(
        [(entry["day"][5:], entry["total"]) for entry in per_day],
        title=f"Events per day, last {days} days",
        label_every=max(1, len(per_day) // 8),
        chart_id="events",
    )
    return render_template(
        "console/dashboard.html",
        data=data,
        users=users,
        active_chart=active,
        events_chart=events,
        days=days,
        windows=WINDOWS,
    )


@bp.post("/stats/refresh")
@page("admin")
def refresh_stats() -> ResponseReturnValue:
    """Refresh the user-stats snapshot now (audited, as the API's refresh is)."""
    overview.refresh_and_overview(get_database(), principal())
    return redirect(url_for("console.dashboard"))
