"""Counting a write-up against the character limit (pure functions).

A PERT response is one experience's write-up: the four parts together (challenge, actions,
results, lessons learned). The limit applies to their total; each part's count is reported
so the candidate sees where to cut. Line breaks count as one character whatever the client
sends (a browser form sends CR LF), and counting is by Unicode code point, which is what a
user sees as a character in Latin scripts.

5,000 characters per response is widely reported but no official page pins it
(``research/cpa-pert-domain.md`` section 2), so the limit is configuration:
``CPA_RESPONSE_CHAR_LIMIT`` (``PATHFINDER_CPA_RESPONSE_CHAR_LIMIT`` in the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

PARTS = ("challenge", "actions", "results", "lessons_learned")
PART_TITLES = {
    "challenge": "Challenge",
    "actions": "Actions",
    "results": "Results",
    "lessons_learned": "Lessons learned",
}
DEFAULT_CHAR_LIMIT = 5000
CONFIG_KEY = "CPA_RESPONSE_CHAR_LIMIT"


def response_char_limit() -> int:
    """The configured limit per response (default 5,000); a bad setting is a startup bug."""
    value = current_app.config.get(CONFIG_KEY, DEFAULT_CHAR_LIMIT)
    limit = int(value)
    if limit < 1:
        raise RuntimeError(f"{CONFIG_KEY} must be a positive number of characters")
    return limit


def normalise(text: str) -> str:
    """Line breaks as LF only, so a CR LF is one character as PERT's box shows it."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def char_count(text: str | None) -> int:
    return len(normalise(text)) if text else 0


def word_count(text: str | None) -> int:
    return len(text.split()) if text else 0


@dataclass(frozen=True)
class Counts:
    parts: dict[str, int]
    total: int
    words: int
    limit: int

    @property
    def over_limit(self) -> bool:
        return self.total > self.limit

    def as_json(self) -> dict[str, Any]:
        return {
            "parts": self.parts,
            "total": self.total,
            "words": self.words,
            "limit": self.limit,
            "remaining": self.limit - self.total,
            "over_limit": self.over_limit,
        }


def count(texts: Mapping[str, str | None], limit: int) -> Counts:
    """Characters per part and in total, and words, of a write-up."""
    parts = {part: char_count(texts.get(part)) for part in PARTS}
    words = sum(word_count(texts.get(part)) for part in PARTS)
    return Counts(parts=parts, total=sum(parts.values()), words=words, limit=limit)


def describe_over_limit(counts: Counts) -> str:
    """``The response is 5,120 characters; the limit is 5,000 (challenge 1,200, ...).``"""
    parts = ", ".join(f"{PART_TITLES[p].lower()} {n:,}" for p, n in counts.parts.items())
    return (
        f"The response is {counts.total:,} characters; the limit is {counts.limit:,} "
        f"({parts}). Shorten it by {counts.total - counts.limit:,} characters."
    )
