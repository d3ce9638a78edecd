"""Rate limits for the endpoints attackers hammer: login, registration, refresh, reset.

Built on the ``limits`` library (moving window; ``memory://`` by default, any of its storages
such as ``redis://`` through ``RATELIMIT_STORAGE_URI``). Each app gets its own storage, so
limits never leak between apps in one process. Over the limit a request gets 429 with
``Retry-After`` and an ``excess_rate_limit_exceeded`` audit row.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import limits
import limits.storage
import limits.strategies
from flask import Flask, current_app, request

from pathfinder.api.errors import TooManyRequests

F = TypeVar("F", bound=Callable[..., Any])
_EXTENSION = "pathfinder.ratelimiter"


def init_app(app: Flask) -> None:
    """Create this app's limiter storage (no connection is made until first use)."""
    uri = str(app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    storage = limits.storage.storage_from_string(uri)
    app.extensions[_EXTENSION] = limits.strategies.MovingWindowRateLimiter(storage)


def rate_limited(setting: str) -> Callable[[F], F]:
    """Limit a view per client address by the limit string in config key ``setting``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from pathfinder.auth.settings import AUTH_DEFAULTS

            limit_text = current_app.config.get(setting, AUTH_DEFAULTS.get(setting))
            if limit_text:
                _hit(str(limit_text), f"{request.endpoint}:{request.remote_addr}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _hit(limit_text: str, key: str) -> None:
    limiter: limits.strategies.RateLimiter = current_app.extensions[_EXTENSION]
    item = limits.parse(limit_text)
    if limiter.hit(item, key):
        return
    reset_at = limiter.get_window_stats(item, key).reset_time
    retry_after = max(1, math.ceil(reset_at - time.time()))
    from pathfinder import audit
    from pathfinder.db import get_database

    with get_database().transaction() as conn:
        audit.record(
            conn,
            "excess_rate_limit_exceeded",
            outcome="failure",
            details={"endpoint": request.endpoint, "limit": limit_text},
            request_meta={"ip_address": request.remote_addr},
        )
    raise TooManyRequests(
        f"Too many requests; try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )
