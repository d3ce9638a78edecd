"""The catalogue matcher on its own: case, word boundaries, aliases, longest match."""

from __future__ import annotations

import pytest

from pathfinder.career.skills import SkillMatcher
from pathfinder.reference.seed_data import catalog_entries


@pytest.fixture(scope="module")
def matcher() -> SkillMatcher:
    rows = [
        {"name": e.name, "category": e.category, "aliases": list(e.aliases)}
        for e in catalog_entries()
    ]
    return SkillMatcher(rows)


def names(matcher: SkillMatcher, text: str) -> list[str]:
    return [m.name for m in matcher.find(text)]


def test_case_insensitive_on_word_boundaries(matcher: SkillMatcher) -> None:
    assert names(matcher, "python, POSTGRESQL and kubernetes") == [
        "Python",
        "PostgreSQL",
        "Kubernetes",
    ]
    # Inside a longer word is not a match.
    assert names(matcher, "Pythonic Dockerfiles") == []
    assert names(matcher, "sqlalchemy") == []
    # Whitespace inside a term may be any run of whitespace.
    assert names(matcher, "machine\n  learning") == ["Machine Learning"]


def test_punctuated_terms_and_longest_match(matcher: SkillMatcher) -> None:
    assert names(matcher, "C++, C#, .NET and CI/CD") == ["C++", "C#", ".NET", "CI/CD"]
    assert names(matcher, "ASP.NET Core apps") == ["ASP.NET"]
    assert names(matcher, "Node.js services") == ["Node.js"]
    assert names(matcher, "Machine Learning Engineer") == ["Machine Learning"]
    assert names(matcher, "wrote C and R code") == ["C", "R"]
    # Short terms touching -, &, + are something else.
    assert names(matcher, "reported to the C-suite on R&D") == []


def test_aliases_map_to_their_skill(matcher: SkillMatcher) -> None:
    found = matcher.find("k8s, Golang, JS and FP&A work; T1 returns")
    assert [(m.name, m.matched) for m in found] == [
        ("Kubernetes", "k8s"),
        ("Go", "Golang"),
        ("JavaScript", "JS"),
        ("Financial Planning and Analysis", "FP&A"),
        ("Personal Income Tax", "T1 returns"),
    ]
    # Each skill once, at its first appearance.
    assert names(matcher, "Python then python then Python 3") == ["Python"]
    assert matcher.canonical("golang").name == "Go"  # type: ignore[union-attr]
    assert matcher.canonical("unknown thing") is None
    assert "js" in matcher.synonyms("JavaScript") and "ecmascript" in matcher.synonyms("js")
    assert matcher.synonyms("Unknown Thing") == ["unknown thing"]


def test_everyday_words_need_the_catalogue_capitalisation(matcher: SkillMatcher) -> None:
    text = "We excel at go-live, react quickly, rest on weekends and take a lean approach"
    assert names(matcher, text) == []
    assert names(matcher, "Excel, React, Go, REST and Lean") == [
        "Microsoft Excel",
        "React",
        "Go",
        "REST APIs",
        "Lean Management",
    ]


def test_empty_inputs() -> None:
    empty = SkillMatcher([])
    assert empty.find("Python") == [] and len(empty) == 0
    assert SkillMatcher([{"name": "Python", "category": None, "aliases": None}]).find("") == []
