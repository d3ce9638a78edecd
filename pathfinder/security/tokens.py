"""Opaque tokens: refresh tokens, e-mailed links, invitation and recovery codes.

Each is random (256 bits unless a code is meant to be typed), handed to its owner once, and
stored only as its SHA-256, so a copy of the database holds no working token.
"""

from __future__ import annotations

import hashlib
import secrets

RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o/1/l/i to misread


def new_token() -> str:
    """A 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_recovery_code() -> str:
    """A 10-character code (about 50 bits), grouped ``xxxxx-xxxxx`` for typing."""
    raw = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_recovery_code(code: str) -> str:
    """Case, spaces and dashes do not matter when a person types a code back."""
    raw = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{raw[:5]}-{raw[5:]}"
