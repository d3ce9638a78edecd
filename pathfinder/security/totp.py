"""TOTP (RFC 6238) with replay protection.

A code is accepted for the current 30-second step or one step either side (clock drift), and
only when its step is later than the last step accepted for that user: the same code, or an
older one, cannot be used twice.
"""

from __future__ import annotations

import time

import pyotp

DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1


def new_secret() -> str:
    """A random base32 TOTP seed (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str = "Pathfinder") -> str:
    """``otpauth://`` URI for authenticator apps (shown once, at enrolment)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_timestep(
    secret: str, code: str, *, last_timestep: int | None, now: float | None = None
) -> int | None:
    """The time-step ``code`` belongs to, if valid and not a replay; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = int((now if now is not None else time.time()) // INTERVAL)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_timestep is not None and step <= last_timestep:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def code_for(secret: str, *, now: float | None = None) -> str:
    """The current code (tests and the enrolment check use it)."""
    at = now if now is not None else time.time()
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).at(at)
