"""The one validator for usernames, and every physical name derived from one.

Anything that becomes part of an identifier in DDL passes through here. A username that is
accepted yields lower-case, unquoted identifiers that fit Oracle's 128-byte limit, are never
reserved words (they always start with ``pf_user_``), and cannot collide with another user's
names: see ``tests/schema/test_naming.py`` for the proofs.
"""

from __future__ import annotations

import re

USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,29}$")
USERNAME_MAX_LENGTH = 30
ORACLE_MAX_IDENTIFIER_BYTES = 128
TENANT_PREFIX = "pf_user_"
# Names of the per-user template's parts (tables, index and constraint suffixes) must match
# this: lower case, unquoted, no leading/trailing or double underscore.
PART_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# What a per-user name may add after the table part: "_" + suffix (index, constraint).
# Keeping this budget is what lets the longest username build every name of every template.
TENANT_NAME_BUDGET = ORACLE_MAX_IDENTIFIER_BYTES - len(TENANT_PREFIX) - USERNAME_MAX_LENGTH - 1

# Usernames that would read as the system itself in logs, URLs and admin screens.
RESERVED_USERNAMES = frozenset(
    {
        "admin_system",
        "anonymous",
        "pathfinder",
        "postgres",
        "public",
        "root",
        "sys",
        "sysdba",
        "system",
        "tenant",
    }
)


# The username of the shared statement templates: per-user statements are compiled once, for
# this name, and each connection puts its own user's name in its place
# (pathfinder.db.tenant_names). It contains "__", which no username may: a real user's names
# ("pf_user_" + a name that neither holds "__" nor ends in "_" + a template tail) can never
# contain "pf_user_<template>_", so the rewrite cannot touch them.
TEMPLATE_USERNAME = "zq__template"


class InvalidUsername(ValueError):
    """A username that may not become part of any identifier; the message says why."""


def normalize_username(raw: object) -> str:
    """Return the canonical form of ``raw`` or raise :class:`InvalidUsername`.

    Case is folded (``John`` and ``john`` are the same user) and only ASCII is accepted, so
    no Unicode case-folding trick (``ß`` → ``ss``, dotless i) can make two spellings meet.
    """
    if not isinstance(raw, str):
        raise InvalidUsername("username must be a string")
    if not raw.isascii():
        raise InvalidUsername("username may contain only ASCII letters, digits and '_'")
    if not raw.isprintable():
        # Control characters never belong in a name; "$" in a pattern matches before a final
        # newline, so "alice\n" must be refused here, not left to the pattern.
        raise InvalidUsername("username may not contain control characters")
    name = raw.lower()
    if len(name) > USERNAME_MAX_LENGTH:
        raise InvalidUsername(f"username is longer than {USERNAME_MAX_LENGTH} characters")
    if len(name) < 3:
        raise InvalidUsername("username is shorter than 3 characters")
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidUsername(
            "username must start with a letter and contain only letters, digits and '_'"
        )
    if "__" in name:
        raise InvalidUsername("username may not contain '__'")
    if name.endswith("_"):
        raise InvalidUsername("username may not end with '_'")
    if name in RESERVED_USERNAMES:
        raise InvalidUsername(f"username {name!r} is reserved")
    return name


def is_valid_username(raw: object) -> bool:
    """True when :func:`normalize_username` accepts ``raw`` unchanged."""
    try:
        return normalize_username(raw) == raw
    except InvalidUsername:
        return False


def check_part(part: str) -> str:
    """Validate a template part name (table, index suffix); raise ValueError if unsafe."""
    if not PART_PATTERN.fullmatch(part):
        raise ValueError(f"template name part {part!r} is not a plain lower-case identifier")
    return part


def tenant_object_name(username: str, tail: str) -> str:
    """Physical name ``pf_user_<username>_<tail>`` for a validated user and template tail.

    ``tail`` is a table name (``experiences``) or a table name plus a suffix
    (``ix_exp_dates``); both come from the template, never from input.
    """
    user = username if username == TEMPLATE_USERNAME else normalize_username(username)
    if user != username:
        raise InvalidUsername("username must be given in canonical (lower-case) form")
    check_part(tail)
    name = f"{TENANT_PREFIX}{user}_{tail}"
    if len(name.encode()) > ORACLE_MAX_IDENTIFIER_BYTES:
        raise ValueError(f"{name!r} exceeds {ORACLE_MAX_IDENTIFIER_BYTES} bytes")
    return name


def tenant_table_name(username: str, table: str) -> str:
    """Physical table name of ``table`` for ``username``."""
    return tenant_object_name(username, table)
