"""Analytics routes: ``/me/analytics/...`` (mine), ``/events`` (client events) and
``/admin/analytics/...`` (aggregates). Parse, authorise, call the service, serialise."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from pathfinder.analytics import events, overview, service
from pathfinder.analytics.responses import (
    AnalyticsComputeResult,
    AnalyticsEvent,
    AnalyticsEventDropped,
    AnalyticsMetric,
    AnalyticsMetricPage,
    AnalyticsOverview,
    AnalyticsProgression,
    AnalyticsProgressionPage,
    AnalyticsTrajectory,
)
from pathfinder.analytics.schemas import (
    EventCreate,
    MetricsQuery,
    MetricUpsert,
    OverviewQuery,
    ProgressionCreate,
    ProgressionQuery,
    TrajectoryQuery,
)
from pathfinder.api.contract import contract
from pathfinder.api.ratelimit import rate_limited
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import requires
from pathfinder.auth.routes import caller
from pathfinder.db import get_database

bp = Blueprint("analytics", __name__)


@bp.post("/me/analytics/metrics")
@requires("user")
@contract(
    body=MetricUpsert, responses={201: AnalyticsMetric, 200: AnalyticsMetric}, tags=("analytics",)
)
def record_metric() -> ResponseReturnValue:
    """Record a metric for a day; the same (date, type) again replaces the value (200)."""
    metric, created = service.record_metric(caller(), parse_body(MetricUpsert))
    return jsonify(metric), 201 if created else 200


@bp.get("/me/analytics/metrics")
@requires("user")
@contract(query=MetricsQuery, responses={200: AnalyticsMetricPage}, tags=("analytics",))
def list_metrics() -> ResponseReturnValue:
    """My metrics, newest day first; filter by type and date range; keyset pages."""
    return jsonify(service.list_metrics(caller(), parse_query(MetricsQuery))), 200


@bp.post("/me/analytics/metrics/compute")
@requires("user")
@contract(responses={200: AnalyticsComputeResult}, tags=("analytics",))
def compute_metrics() -> ResponseReturnValue:
    """Compute today's career metrics from my experiences and skills now (the job's work)."""
    return jsonify(service.compute_my_metrics(caller())), 200


@bp.post("/me/analytics/skills-progression")
@requires("user")
@contract(
    body=ProgressionCreate,
    responses={201: AnalyticsProgression},
    tags=("analytics",),
    links={"progression_id": "/id"},
)
def create_progression() -> ResponseReturnValue:
    """Record an assessment of one of my skills."""
    return jsonify(service.create_progression(caller(), parse_body(ProgressionCreate))), 201


@bp.get("/me/analytics/skills-progression")
@requires("user")
@contract(query=ProgressionQuery, responses={200: AnalyticsProgressionPage}, tags=("analytics",))
def list_progression() -> ResponseReturnValue:
    """My skill assessments, newest first; filter by skill and date range; keyset pages."""
    return jsonify(service.list_progression(caller(), parse_query(ProgressionQuery))), 200


@bp.delete("/me/analytics/skills-progression/<id:progression_id>")
@requires("user")
@contract(responses={204: None}, tags=("analytics",))
def delete_progression(progression_id: str) -> ResponseReturnValue:
    """Delete one of my skill assessments."""
    service.delete_progression(caller(), progression_id)
    return "", 204


@bp.get("/me/analytics/trajectory")
@requires("user")
@contract(query=TrajectoryQuery, responses={200: AnalyticsTrajectory}, tags=("analytics",))
def get_trajectory() -> ResponseReturnValue:
    """My career as chart-ready series: metrics, skills by category, skill levels, roles."""
    return jsonify(service.get_trajectory(caller(), parse_query(TrajectoryQuery))), 200


@bp.post("/events")
@requires("user")
@contract(
    body=EventCreate,
    responses={201: AnalyticsEvent, 202: AnalyticsEventDropped},
    tags=("analytics",),
)
@rate_limited("RATELIMIT_EVENTS")
def record_event() -> ResponseReturnValue:
    """Record a client usage event; personal data in it is stripped before storage.

    202 and nothing stored when I opted out of analytics (`privacy_settings`)."""
    body = parse_body(EventCreate)
    stored = events.record_client_event(
        caller(),
        body,
        ip_address=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
    if stored is None:
        return jsonify({"recorded": False, "reason": "analytics_opt_out"}), 202
    return jsonify(stored), 201


@bp.get("/admin/analytics/overview")
@requires("admin")
@contract(query=OverviewQuery, responses={200: AnalyticsOverview}, tags=("analytics",))
def analytics_overview() -> ResponseReturnValue:
    """DAU/WAU/MAU from the user-stats snapshot and events by type per day."""
    query = parse_query(OverviewQuery)
    return jsonify(overview.overview(get_database(), query.days)), 200


@bp.post("/admin/analytics/refresh")
@requires("admin")
@contract(responses={200: AnalyticsOverview}, tags=("analytics",))
def refresh_overview() -> ResponseReturnValue:
    """Refresh the user-stats snapshot now, then answer the 30-day overview."""
    return jsonify(overview.refresh_and_overview(get_database(), caller())), 200
