"""Finding catalogued skills in free text (skill extraction) and naming skills canonically.

The catalogue (``pf_ref_skills_catalog``) gives each skill a name and aliases. Matching is:

- **case-insensitive**, except for the terms in :data:`CASE_SENSITIVE_TERMS`: ordinary English
  words that are also skill names (``Excel``, ``React``, ``Go``, ``Lean``) match only with
  the catalogue's capitalisation, so "we excel at" and "go live" are not skills;
- **on word boundaries**, defined for terms that contain punctuation (``C++``, ``C#``,
  ``.NET``, ``CI/CD``, ``Node.js``): no letter, digit or underscore may touch either end.
  One- and two-character terms (``R``, ``C``, ``AI``) must also not touch ``-``, ``+``,
  ``#`` or ``&`` (so "C-suite" and "R&D" are not languages);
- **longest term first** at any position: "Machine Learning Engineer" yields *Machine
  Learning*, and "C++" never also yields *C*;
- whitespace inside a multi-word term matches any run of whitespace.

One compiled pattern serves a catalogue; :func:`catalog_matcher` caches it per app and
rebuilds it when the catalogue changes (row count or newest ``updated_at``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy.engine import Connection

from pathfinder.reference import repo as reference_repo
from pathfinder.reference.repo import normalize_skill_name

# Lower-cased terms that are everyday words too; they match only as the catalogue spells them.
CASE_SENSITIVE_TERMS = frozenset(
    {
        "access", "agile", "airflow", "angular", "asana", "assembly", "bash", "blender",
        "bloomberg", "bootstrap", "c", "cas", "chef", "cia", "concur", "confluence", "cro",
        "cypress", "dart", "epic", "excel", "flask", "flutter", "go", "helm", "hibernate",
        "hyperion", "iam", "illustrator", "jenkins", "jest", "kafka", "lean", "ml", "playwright",
        "prometheus", "puppet", "qa", "qc", "r", "rails", "rca", "react", "rest", "rust", "safe",
        "sage", "sap", "sas", "sketch", "slack", "snowflake", "sox", "spark", "svelte", "swift",
        "unity", "workday", "ai", "ui", "ux", "bi", "dei", "cad", "ruby", "celery",
    }
)  # fmt: skip

_WORD = r"A-Za-z0-9_"
_SHORT_TERM = 2


@dataclass(frozen=True)
class CatalogSkill:
    """A catalogue entry as the matcher needs it."""

    name: str
    category: str | None


@dataclass(frozen=True)
class SkillMatch:
    """A catalogued skill found in a text: the entry and the first spelling that matched."""

    name: str
    category: str | None
    matched: str


def _term_pattern(term: str) -> str:
    body = r"\s+".join(re.escape(part) for part in term.split())
    if len(term) <= _SHORT_TERM:
        before, after = rf"(?<![{_WORD}\-&])", rf"(?![{_WORD}\-+#&])"
    else:
        before, after = rf"(?<![{_WORD}])", rf"(?![{_WORD}])"
    if normalize_skill_name(term) in CASE_SENSITIVE_TERMS:
        body = f"(?-i:{body})"
    return f"{before}{body}{after}"


class SkillMatcher:
    """Finds catalogued skills in text; built once per catalogue version."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._terms: dict[str, CatalogSkill] = {}
        spellings: dict[str, str] = {}
        for row in rows:
            skill = CatalogSkill(str(row["name"]), row.get("category"))
            for term in [str(row["name"]), *reference_repo.aliases_of(dict(row))]:
                key = normalize_skill_name(term)
                if not key or key in self._terms:
                    # The catalogue keeps terms unique; if an edit ever broke that, the
                    # first entry keeps the term rather than extraction failing for everyone.
                    continue
                self._terms[key] = skill
                spellings[key] = " ".join(term.split())
        ordered = sorted(spellings.values(), key=lambda t: (-len(t), t.lower()))
        self._pattern = (
            re.compile("|".join(_term_pattern(t) for t in ordered), re.IGNORECASE)
            if ordered
            else None
        )

    def __len__(self) -> int:
        return len(self._terms)

    def find(self, text: str) -> list[SkillMatch]:
        """Catalogued skills in ``text``, each once, in order of first appearance."""
        if self._pattern is None or not text:
            return []
        found: dict[str, SkillMatch] = {}
        for match in self._pattern.finditer(text):
            skill = self._terms.get(normalize_skill_name(match.group(0)))
            if skill is not None and skill.name not in found:
                found[skill.name] = SkillMatch(skill.name, skill.category, match.group(0))
        return list(found.values())

    def canonical(self, name: str) -> CatalogSkill | None:
        """The catalogue entry ``name`` is the name or an alias of (any case), if any."""
        return self._terms.get(normalize_skill_name(name))

    def synonyms(self, name: str) -> list[str]:
        """Every term of the entry ``name`` belongs to (lower case), or just ``name``."""
        skill = self.canonical(name)
        if skill is None:
            return [normalize_skill_name(name)]
        return sorted(term for term, owner in self._terms.items() if owner == skill)


_EXTENSION = "pathfinder.skill_matcher"
_lock = threading.Lock()


def catalog_matcher(conn: Connection) -> SkillMatcher:
    """The matcher for the catalogue as ``conn`` sees it; cached per app while unchanged."""
    fingerprint = reference_repo.catalog_fingerprint(conn)
    if has_app_context():
        cached = current_app.extensions.get(_EXTENSION)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]  # type: ignore[no-any-return]
    matcher = SkillMatcher(reference_repo.all_skills(conn, active_only=True))
    if has_app_context():
        with _lock:
            current_app.extensions[_EXTENSION] = (fingerprint, matcher)
    return matcher
