"""Identity settings: token lifetimes, lockout, rate limits, with their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

AUTH_DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN_MINUTES": 15,
    "REFRESH_TOKEN_DAYS": 30,
    # However often it is refreshed, a session ends this long after its sign-in.
    "SESSION_ABSOLUTE_DAYS": 90,
    "MFA_CHALLENGE_MINUTES": 5,
    # Lockout: this many failures within the window lock the account for LOCKOUT_MINUTES.
    "LOCKOUT_THRESHOLD": 5,
    "LOCKOUT_WINDOW_MINUTES": 15,
    "LOCKOUT_MINUTES": 15,
    "PASSWORD_RESET_MINUTES": 60,
    "EMAIL_VERIFICATION_HOURS": 48,
    # "default" (argon2id RFC 9106 low-memory) or "fast" (tests only).
    "PASSWORD_HASH_PROFILE": "default",
    "RECOVERY_CODE_COUNT": 10,
    # flask-limiter strings; storage "memory://" is per process: use a shared store
    # (e.g. redis://) when running several workers.
    "RATELIMIT_LOGIN": "10 per minute",
    "RATELIMIT_REGISTER": "5 per minute",
    "RATELIMIT_REFRESH": "30 per minute",
    "RATELIMIT_PASSWORD_RESET": "5 per minute",
    # Per account, from any number of addresses (an attacker spreading a guessing run).
    "RATELIMIT_LOGIN_ACCOUNT": "30 per 10 minutes",
    "RATELIMIT_PASSWORD_RESET_ACCOUNT": "5 per hour",
    # Every CPA share-link request (/cpa/links/{token}/...) from one address, whatever the
    # operation: the token is the credential, so guessing runs are bounded like sign-in.
    # A reviewer reading a report sends a few requests a page.
    "RATELIMIT_SHARE_LINK": "300 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
}


@dataclass(frozen=True)
class AuthSettings:
    access_token: timedelta
    refresh_token: timedelta
    session_absolute: timedelta
    mfa_challenge: timedelta
    lockout_threshold: int
    lockout_window: timedelta
    lockout_duration: timedelta
    password_reset: timedelta
    email_verification: timedelta
    recovery_code_count: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuthSettings:
        def get(key: str) -> Any:
            return config.get(key, AUTH_DEFAULTS[key])

        return cls(
            access_token=timedelta(minutes=float(get("ACCESS_TOKEN_MINUTES"))),
            refresh_token=timedelta(days=float(get("REFRESH_TOKEN_DAYS"))),
            session_absolute=timedelta(days=float(get("SESSION_ABSOLUTE_DAYS"))),
            mfa_challenge=timedelta(minutes=float(get("MFA_CHALLENGE_MINUTES"))),
            lockout_threshold=int(get("LOCKOUT_THRESHOLD")),
            lockout_window=timedelta(minutes=float(get("LOCKOUT_WINDOW_MINUTES"))),
            lockout_duration=timedelta(minutes=float(get("LOCKOUT_MINUTES"))),
            password_reset=timedelta(minutes=float(get("PASSWORD_RESET_MINUTES"))),
            email_verification=timedelta(hours=float(get("EMAIL_VERIFICATION_HOURS"))),
            recovery_code_count=int(get("RECOVERY_CODE_COUNT")),
        )
