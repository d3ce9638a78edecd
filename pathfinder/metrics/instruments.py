"""The metrics this process updates. Created once per process, at import.

In multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set, as under gunicorn) each value lives
in a file per worker; gauges say how workers' values combine (``livesum``: the sum over
workers still alive), counters and histograms are summed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets for an API whose reads are a few milliseconds and whose sign-ins pay for
# argon2 (hundreds of milliseconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "pathfinder_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ("route", "method", "status"),
)
HTTP_LATENCY = Histogram(
    "pathfinder_http_request_duration_seconds",
    "Time from the first request hook to the response, by route template, method and status.",
    ("route", "method", "status"),
    buckets=LATENCY_BUCKETS,
)
POOL_CHECKED_OUT = Gauge(
    "pathfinder_db_pool_checked_out",
    "Database connections checked out of the pool (summed over live workers).",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "pathfinder_db_pool_overflow",
    "Connections open beyond the pool size (negative: pool slots not yet opened).",
    multiprocess_mode="livesum",
)
TENANT_PROVISIONS = Counter(
    "pathfinder_tenant_provisions",
    "Per-user table provisioning attempts in this deployment's processes, by outcome.",
    ("outcome",),
)
TENANT_MIGRATIONS = Counter(
    "pathfinder_tenant_migrations",
    "Per-user template migrations in this deployment's processes, by outcome.",
    ("outcome",),
)


F = TypeVar("F", bound=Callable[..., Any])


def counted(counter: Counter) -> Callable[[F], F]:
    """Count each call of a provisioning operation by its outcome (``error`` if it raised).

    The wrapped function returns an object with an ``outcome`` (the engine's ``Result``).
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = func(*args, **kwargs)
            except Exception:
                counter.labels("error").inc()
                raise
            counter.labels(str(getattr(result, "outcome", "done"))).inc()
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
