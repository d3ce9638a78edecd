"""Personal data stripped from client analytics events before they are stored.

Product analytics need counts and paths, not people. Whatever a client puts in an event's
``event_data`` passes through :func:`strip_pii` first, recursively through objects and
lists:

* a key that names personal data (e-mail, phone, a person's name, a postal address, a
  birth date, national ids) or a secret (password, token, key) keeps its place, but its
  value becomes ``"[redacted]"`` whatever it was (a nested object included);
* inside every other string, e-mail addresses become ``"[email]"`` and phone numbers
  ``"[phone]"``;
* text is made storable everywhere (no NUL, valid UTF-8; PostgreSQL refuses NUL in JSONB).

The phone pattern prefers privacy to precision: a run of 10 to 15 digits in a string (an
epoch timestamp written as text, say) is taken for a phone number too. Numbers sent as JSON
numbers are never touched. Keys are split into words (``firstName``, ``first-name`` and
``first_name`` alike) and matched as whole words, so ``zipped`` or ``mailbox_size`` are
kept while ``zip`` and ``home_address`` are redacted. A bare ``name`` is treated as a
person's name: clients label things with ``feature``, ``label`` or ``page`` instead.

:func:`strip_url` keeps a page URL or referrer's scheme, host and path: query strings and
fragments carry e-mail addresses, search terms and tokens.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pathfinder.audit.sanitise import clean_text, is_secret_key

REDACTED = "[redacted]"
MAX_DEPTH = 10

# Words that make a key personal on their own.
_PII_WORDS = frozenset(
    {
        "email",
        "emails",
        "mail",
        "phone",
        "phones",
        "mobile",
        "cell",
        "telephone",
        "tel",
        "fax",
        "msisdn",
        "address",
        "addresses",
        "addr",
        "street",
        "postcode",
        "postal",
        "zip",
        "zipcode",
        "surname",
        "firstname",
        "lastname",
        "fullname",
        "givenname",
        "familyname",
        "middlename",
        "maidenname",
        "nickname",
        "username",
        "displayname",
        "dob",
        "birthdate",
        "birthday",
        "ssn",
        "sin",
        "nin",
        "passport",
        "iban",
    }
)
# Two-word keys that are personal together ("first name"), not apart ("first", "name").
_PII_PAIRS = frozenset(
    {
        ("first", "name"),
        ("last", "name"),
        ("full", "name"),
        ("given", "name"),
        ("family", "name"),
        ("middle", "name"),
        ("maiden", "name"),
        ("nick", "name"),
        ("user", "name"),
        ("display", "name"),
        ("contact", "name"),
        ("person", "name"),
        ("birth", "date"),
        ("date", "birth"),  # date_of_birth once "of" is dropped
        ("social", "security"),
        ("ip", "address"),
    }
)
_IGNORED_WORDS = frozenset({"of", "the", "a"})
_WORD_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# The local part leaves out "/", "=" and "?" (legal but rare), so a path or query segment
# before an address ("/profile/jane@x.org") is not swallowed with it.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
# Grouped numbers ("+1 (604) 555-0199", "604.555.0199", "+44 20 7946 0958") and bare runs
# of 10-15 digits, optionally after "+". Dates ("2024-01-15") have groups too short to match.
_PHONE_RE = re.compile(
    r"(?<![\w+])"
    r"(?:"
    r"\+?\d{1,3}[\s.-]?\(?\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}"
    r"|\(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]\d{3,4}"
    r"|\d{3,4}[\s.-]\d{3,4}[\s.-]\d{3,4}"
    r"|\+?\d{10,15}"
    r")"
    r"(?!\w)"
)


def key_words(key: str) -> list[str]:
    """A key split into lower-case words: ``firstName`` and ``first-name`` -> first, name."""
    spaced = _CAMEL_RE.sub("_", key).lower()
    return [w for w in _WORD_SPLIT_RE.split(spaced) if w and w not in _IGNORED_WORDS]


def is_pii_key(key: str) -> bool:
    """Whether ``key`` names personal data or a secret (its value is never stored)."""
    words = key_words(key)
    if not words:
        return False
    if words == ["name"] or words == ["names"]:
        return True
    if any(word in _PII_WORDS for word in words):
        return True
    if "".join(words) in _PII_WORDS:
        return True
    if any(pair in _PII_PAIRS for pair in zip(words, words[1:], strict=False)):
        return True
    return is_secret_key(key)


def scrub_text(value: str) -> str:
    """``value`` with e-mail addresses and phone numbers replaced, storable everywhere."""
    text = clean_text(value)
    text = _EMAIL_RE.sub("[email]", text)
    return _PHONE_RE.sub("[phone]", text)


def strip_pii(value: Any, *, _depth: int = 0) -> Any:
    """A copy of a JSON value with personal data removed (see the module docstring).

    Deeper than :data:`MAX_DEPTH` levels, a value is dropped to ``"[redacted]"``: request
    validation already refuses such documents, this is the backstop.
    """
    if _depth > MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = clean_text(str(key), 200)
            out[name] = REDACTED if is_pii_key(name) else strip_pii(item, _depth=_depth + 1)
        return out
    if isinstance(value, list):
        return [strip_pii(item, _depth=_depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def strip_url(url: str | None) -> str | None:
    """A page URL or referrer without query string or fragment (and without user info).

    Relative paths (``/me/skills``) are kept as paths. Anything that is neither an http(s)
    URL nor a path is dropped to None.
    """
    if url is None:
        return None
    text = clean_text(url.strip(), 1000)
    if not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = f"{host}:{port}" if port else host
        return scrub_text(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
    if not parts.scheme and not parts.netloc and text.startswith("/"):
        return scrub_text(parts.path) or "/"
    return None


def truncate_ip(ip: str | None) -> str | None:
    """The client address with its host part removed: IPv4 to /24, IPv6 to /48.

    Enough to tell regions and networks apart in aggregates, not enough to name a household.
    """
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)
