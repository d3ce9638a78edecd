"""Password hashing (argon2id) and the password policy.

argon2-cffi's default profile (RFC 9106 low-memory: 64 MiB, t=3, p=4) is well above OWASP's
floor. Tests select a cheap profile through ``PASSWORD_HASH_PROFILE = "fast"``; hashes made
with it are upgraded by :meth:`PasswordHasher.needs_rehash` on the next login.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256

# Refused outright: the most common choices that would pass the length rule ...
PATHFINDER_COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiop12",
        "passwordpassword",
        "letmein12345",
        "iloveyou1234",
        "administrator",
        "welcome12345",
        "changeme1234",
        "pathfinder123",
    }
)


# ... and the 30,000 most common passwords of the public Xato corpus (Mark Burnett's 10
# million passwords), as shipped by the zxcvbn package (MIT licence): checked offline, in
# memory, with or without a trailing run of digits and symbols ("Summer2024!!" is "summer").
_TRAILING_NOISE_RE = re.compile(r"[\W\d_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The refused passwords, loaded once (about 30,000 strings)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | PATHFINDER_COMMON_PASSWORDS


def is_common_password(password: str) -> bool:
    """Whether ``password`` (case-folded, and without trailing digits and symbols) is common."""
    lowered = password.lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    base = _TRAILING_NOISE_RE.sub("", lowered)
    return len(base) >= 4 and base in listed


class WeakPassword(ValueError):
    """The password breaks the policy; the message says which rule."""


def weak_on_its_own(password: str) -> str | None:
    """What makes ``password`` unacceptable whoever uses it (length, a well-known or
    repetitive password), or None."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must have at most {MAX_LENGTH} characters"
    if is_common_password(password) or len(set(password)) < 4:
        return "password is too common or too repetitive"
    return None


def contains_username(password: str, username: str) -> str | None:
    if username and username.lower() in password.lower():
        return "password must not contain the username"
    return None


def contains_email(password: str, email: str) -> str | None:
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        return "password must not contain the e-mail address"
    return None


def check_password_policy(password: str, *, username: str = "", email: str = "") -> None:
    """Raise :class:`WeakPassword` unless ``password`` is acceptable.

    Length is what matters most (NIST SP 800-63B): at least 12 characters, no composition
    rules, but not the username, the e-mail address or a well-known password. Each part is
    a function of its own, so a request's rules can report each broken one once.
    """
    for broken in (
        weak_on_its_own(password),
        contains_username(password, username),
        contains_email(password, email),
    ):
        if broken is not None:
            raise WeakPassword(broken)


@dataclass
class PasswordHasher:
    """argon2id hashing with a dummy hash for unknown users (equal timing)."""

    profile: str = "default"

    def __post_init__(self) -> None:
        if self.profile == "fast":
            self._hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
        else:
            self._hasher = Argon2Hasher(type=Type.ID)
        self._dummy = self._hasher.hash("pathfinder-dummy-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash, spend the same time and say no."""
        try:
            return self._hasher.verify(encoded or self._dummy, password) and encoded is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        return self._hasher.check_needs_rehash(encoded)
