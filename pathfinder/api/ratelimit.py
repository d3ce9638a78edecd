"""Rate limits for the endpoints attackers hammer: login, registration, refresh, reset.

Built on the ``limits`` library (moving window). The storage is ``RATELIMIT_STORAGE_URI``:
``memory://`` counts per process, so with 4 gunicorn workers "10 per minute" let 40 through;
production mode refuses it and needs a store every worker and node shares (``redis://``).
Limits are kept per client address (``request.remote_addr``, which ``TRUSTED_PROXY_COUNT``
makes the client's, not the proxy's) and, for sign-in and password reset, per account too,
so spreading attempts over many addresses does not multiply them. Over the limit a request
gets 429 with ``Retry-After`` and an ``excess_rate_limit_exceeded`` audit row.
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
    options: dict[str, Any] = {}
    if not uri.startswith("memory"):
        # Counters of several deployments (or test runs) may share one Redis.
        options["key_prefix"] = str(app.config.get("RATELIMIT_KEY_PREFIX", "pathfinder"))
    storage = limits.storage.storage_from_string(uri, **options)
    app.extensions[_EXTENSION] = limits.strategies.MovingWindowRateLimiter(storage)


def rate_limited(setting: str, *, account_field: str | None = None) -> Callable[[F], F]:
    """Limit a view per client address by the limit string in config key ``setting``.

    With ``account_field``, the JSON body field naming the account (a login, an e-mail) is
    also limited by ``<setting>_ACCOUNT``, whatever address the attempts come from.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            account = _account_of(account_field) if account_field is not None else None
            enforce_limit(setting, scope=str(request.endpoint), account=account)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def enforce_limit(setting: str, *, scope: str, account: str | None = None) -> None:
    """Count one attempt at ``scope`` (an endpoint name) for this client address and, with
    ``account``, for that account; 429 when either is over its limit.

    Another front end for the same action (the console's sign-in form) passes the API
    endpoint's name as ``scope``, so both share one counter and one limit.
    """
    from pathfinder.auth.settings import AUTH_DEFAULTS

    limit_text = current_app.config.get(setting, AUTH_DEFAULTS.get(setting))
    if limit_text:
        _hit(str(limit_text), f"{scope}:{request.remote_addr}")
    if account is not None:
        account_setting = f"{setting}_ACCOUNT"
        account_limit = current_app.config.get(account_setting, AUTH_DEFAULTS.get(account_setting))
        account = account.strip().lower()[:254]
        if account_limit and account:
            _hit(str(account_limit), f"{scope}:account:{account}")


def _account_of(field: str) -> str | None:
    """The account a request names, case-folded; None when the body has no such string."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


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
            details={"endpoint": key.split(":", 1)[0], "limit": limit_text},
            request_meta={"ip_address": request.remote_addr},
        )
    raise TooManyRequests(
        f"Too many requests; try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )
