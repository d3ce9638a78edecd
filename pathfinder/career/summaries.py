"""Tier 2 (``profile_summary``) and tier 3 (``quick_summary``) computed from tier 1.

Pure functions of (experiences, skills, today): no database, no clock, no randomness, so
the same career always gives the same summaries and a test can check them against a
hand-computed fixture. The service calls :func:`compute_summaries` in the same transaction
as every change to experiences or skills and stores the result; reads of tiers 2 and 3
then touch only their own one-row tables.

Rules, and why:

- **A role's period** is ``start_date`` to ``end_date`` inclusive; a current role runs to
  ``today``. Days are counted, and years are days / 365.25, rounded half-up to one
  decimal, so a leap year does not make a calendar year 1.0 one time and 0.9 another.
- **Overlapping periods count once**: total years is the length of the *union* of all
  periods (two part-time jobs in the same year are one year of experience, not two).
  The same union rule gives the years per industry and per skill.
- **A skill's years** are the union of the periods of the roles it is tied to (a skill row
  with ``experience_id``, or a role's ``technologies`` entry), or the years the user
  declared on the skill (``years_experience``) when that is more. **Last used** is the
  latest of the declared ``last_used`` and the end of those roles (today for a current
  one).
- Skill names are grouped case-insensitively, through the catalogue when one is given
  (``canonical``), so "JS" in one role and "JavaScript" in another are one skill.
- Highlights use only plain columns (title, company, level, team size, technologies),
  never the encrypted description or achievements: the summary tables are not encrypted,
  and copying secret text into them would undo the encryption of tier 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

DAYS_PER_YEAR = Decimal("365.25")
LEADERSHIP_LEVELS = ("lead", "manager", "director", "executive")
# Seniority order of experiences.role_level (the CHECK's values), for "rose from ... to ...".
ROLE_RANK = {
    level: rank
    for rank, level in enumerate(
        ("entry", "intermediate", "senior", "lead", "manager", "director", "executive")
    )
}
PROFILE_TOP_SKILLS = 10
QUICK_TOP_SKILLS = 5
MAX_HIGHLIGHTS = 5
MAX_STRENGTHS = 5
HEADLINE_LENGTH = 300
NO_EXPERIENCE_HEADLINE = "No experience recorded yet"

Period = tuple[date, date]
# name -> (canonical display name, catalogue category or None)
Canonical = Callable[[str], tuple[str, str | None]]


def years_of_days(days: int) -> Decimal:
    """Days as years with one decimal, rounded half-up (deterministic on every platform)."""
    return (Decimal(days) / DAYS_PER_YEAR).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def period_of(experience: Mapping[str, Any], today: date) -> Period:
    """The inclusive (start, end) of a role; a current or open-ended role ends ``today``."""
    start: date = experience["start_date"]
    end: date | None = experience.get("end_date")
    if end is None or experience.get("is_current"):
        end = max(today, start)
    return start, max(end, start)


def union_days(periods: Iterable[Period]) -> int:
    """Number of distinct days covered by inclusive periods (overlaps counted once)."""
    total = 0
    current: Period | None = None
    for start, end in sorted(periods):
        if current is None:
            current = (start, end)
        elif start <= current[1] + timedelta(days=1):
            current = (current[0], max(current[1], end))
        else:
            total += (current[1] - current[0]).days + 1
            current = (start, end)
    if current is not None:
        total += (current[1] - current[0]).days + 1
    return total


def _norm(name: str) -> str:
    return " ".join(name.split()).lower()


def _identity(name: str) -> tuple[str, str | None]:
    return " ".join(name.split()), None


@dataclass
class SkillTotal:
    """One skill across the whole career (the skills summary, and tier 2's top skills)."""

    name: str
    category: str | None
    total_years: Decimal
    last_used: date | None
    experience_count: int
    is_primary: bool
    proficiency_level: int | None
    periods: list[Period] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "total_years": float(self.total_years),
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "experience_count": self.experience_count,
            "is_primary": self.is_primary,
            "proficiency_level": self.proficiency_level,
        }


def skill_totals(
    experiences: Sequence[Mapping[str, Any]],
    skills: Sequence[Mapping[str, Any]],
    today: date,
    canonical: Canonical | None = None,
) -> list[SkillTotal]:
    """Every skill of the career, ranked: primary first, then most years, latest use, name."""
    name_of = canonical or _identity
    periods = {e["id"]: period_of(e, today) for e in experiences}
    groups: dict[str, dict[str, Any]] = {}

    def group(raw: str) -> dict[str, Any]:
        display, category = name_of(raw)
        key = _norm(display)
        if key not in groups:
            groups[key] = {
                "name": display,
                "category": category,
                "experiences": set(),
                "declared": Decimal(0),
                "last_used": None,
                "primary": False,
                "proficiency": None,
            }
        return groups[key]

    for experience in experiences:
        for tech in experience.get("technologies") or []:
            if isinstance(tech, str) and tech.strip():
                group(tech)["experiences"].add(experience["id"])
    for skill in skills:
        g = group(str(skill["name"]))
        if skill.get("experience_id") in periods:
            g["experiences"].add(skill["experience_id"])
        if g["category"] is None and skill.get("category"):
            g["category"] = skill["category"]
        if skill.get("years_experience") is not None:
            g["declared"] = max(g["declared"], Decimal(str(skill["years_experience"])))
        used = skill.get("last_used")
        if used is not None and (g["last_used"] is None or used > g["last_used"]):
            g["last_used"] = used
        g["primary"] = g["primary"] or bool(skill.get("is_primary"))
        level = skill.get("proficiency_level")
        if level is not None:
            g["proficiency"] = max(g["proficiency"] or 0, int(level))

    totals = []
    for g in groups.values():
        spans = sorted(periods[i] for i in g["experiences"])
        from_roles = years_of_days(union_days(spans))
        last_used = g["last_used"]
        if spans:
            latest_end = max(end for _, end in spans)
            last_used = latest_end if last_used is None else max(last_used, latest_end)
        totals.append(
            SkillTotal(
                name=g["name"],
                category=g["category"],
                total_years=max(from_roles, g["declared"].quantize(Decimal("0.1"))),
                last_used=last_used,
                experience_count=len(spans),
                is_primary=g["primary"],
                proficiency_level=g["proficiency"],
                periods=spans,
            )
        )
    totals.sort(
        key=lambda t: (
            not t.is_primary,
            -t.total_years,
            -(t.last_used.toordinal() if t.last_used else 0),
            t.name.lower(),
        )
    )
    return totals


def _year_span(experience: Mapping[str, Any]) -> str:
    start = experience["start_date"].year
    if experience.get("is_current") or experience.get("end_date") is None:
        return f"{start}–present"
    end = experience["end_date"].year
    return str(start) if end == start else f"{start}–{end}"


def _role(experience: Mapping[str, Any]) -> str:
    company = experience.get("company")
    return f"{experience['title']} at {company}" if company else str(experience["title"])


def _recent_first(experiences: Iterable[Mapping[str, Any]], today: date) -> list[Mapping[str, Any]]:
    return sorted(
        experiences,
        key=lambda e: (period_of(e, today)[1], e["start_date"], e["id"]),
        reverse=True,
    )


def _years_text(years: Decimal) -> str:
    return f"{years} year" if years == Decimal("1.0") else f"{years} years"


@dataclass(frozen=True)
class Summaries:
    """Column values for the two summary tables (without id)."""

    profile: dict[str, Any]
    quick: dict[str, Any]


def career_highlights(experiences: Sequence[Mapping[str, Any]], today: date) -> list[str]:
    """Up to three one-line highlights from the roles' structured fields.

    Only titles, companies, dates, levels and team sizes are read (never the encrypted
    descriptions or achievements), so the highlights need no encryption of their own: the
    longest role, the largest team led, and the rise in level from the first role to the
    latest, when there was one.
    """
    if not experiences:
        return []
    highlights = []
    longest = max(
        experiences, key=lambda e: (union_days([period_of(e, today)]), e["start_date"], e["id"])
    )
    years = years_of_days(union_days([period_of(longest, today)]))
    highlights.append(f"Longest role: {_role(longest)}, {_years_text(years)}")
    teams = [e for e in experiences if e.get("team_size")]
    if teams:
        biggest = max(teams, key=lambda e: (e["team_size"], e["start_date"], e["id"]))
        highlights.append(f"Led a team of {biggest['team_size']} as {_role(biggest)}")
    levelled = sorted(
        (e for e in experiences if e.get("role_level") in ROLE_RANK),
        key=lambda e: (e["start_date"], e["id"]),
    )
    if len(levelled) >= 2:
        first, last = levelled[0]["role_level"], levelled[-1]["role_level"]
        if ROLE_RANK[last] > ROLE_RANK[first]:
            highlights.append(f"Rose from {first} to {last} level")
    return highlights


def compute_summaries(
    experiences: Sequence[Mapping[str, Any]],
    skills: Sequence[Mapping[str, Any]],
    today: date,
    canonical: Canonical | None = None,
) -> Summaries:
    """Tier 2 and tier 3 of a career, deterministically (see the module docstring)."""
    periods = [period_of(e, today) for e in experiences]
    total_years = years_of_days(union_days(periods))
    recent = _recent_first(experiences, today)

    by_industry: dict[str, dict[str, Any]] = {}
    for experience in experiences:
        industry = (experience.get("industry") or "").strip()
        if industry:
            entry = by_industry.setdefault(_norm(industry), {"name": industry, "periods": []})
            entry["periods"].append(period_of(experience, today))
    industries = sorted(
        (
            {"name": v["name"], "years": float(years_of_days(union_days(v["periods"])))}
            for v in by_industry.values()
        ),
        key=lambda i: (-i["years"], i["name"].lower()),
    )

    totals = skill_totals(experiences, skills, today, canonical)
    top_skills = [t.as_json() for t in totals[:PROFILE_TOP_SKILLS]]

    leaders = [e for e in recent if e.get("role_level") in LEADERSHIP_LEVELS]
    leadership = []
    for e in leaders[:MAX_HIGHLIGHTS]:
        text = f"{_role(e)} ({_year_span(e)})"
        if e.get("team_size"):
            text += f", team of {e['team_size']}"
        leadership.append(text)

    technical = []
    for e in recent:
        techs = [t for t in e.get("technologies") or [] if isinstance(t, str)]
        if techs:
            technical.append(f"{_role(e)} ({_year_span(e)}): {', '.join(techs[:5])}")
        if len(technical) == MAX_HIGHLIGHTS:
            break

    progression = [
        {
            "title": e["title"],
            "company": e.get("company"),
            "role_level": e.get("role_level"),
            "employment_type": e.get("employment_type"),
            "start_date": e["start_date"].isoformat(),
            "end_date": e["end_date"].isoformat() if e.get("end_date") else None,
            "is_current": bool(e.get("is_current")),
        }
        for e in sorted(experiences, key=lambda e: (e["start_date"], e["id"]))
    ]

    current = [e for e in recent if e.get("is_current")]
    headline_role = current[0] if current else (recent[0] if recent else None)
    if headline_role is None:
        headline = NO_EXPERIENCE_HEADLINE
    else:
        parts = [_role(headline_role), f"{_years_text(total_years)} of experience"]
        names = [t.name for t in totals[:3]]
        if names:
            parts.append(", ".join(names))
        headline = " · ".join(parts)
        if len(headline) > HEADLINE_LENGTH:
            headline = headline[: HEADLINE_LENGTH - 1] + "…"

    profile = {
        "total_years": total_years,
        "total_roles": len(experiences),
        "industries": industries,
        "top_skills": top_skills,
        "leadership_highlights": leadership,
        "technical_highlights": technical,
        "career_progression": progression,
        "career_highlights": career_highlights(experiences, today),
    }
    quick = {
        "headline": headline,
        "current_title": current[0]["title"] if current else None,
        "current_company": current[0].get("company") if current else None,
        "total_years": total_years,
        "total_roles": len(experiences),
        "key_strengths": key_strengths(totals, leaders, industries),
        "top_skills": [t.name for t in totals[:QUICK_TOP_SKILLS]],
    }
    return Summaries(profile=profile, quick=quick)


def key_strengths(
    totals: Sequence[SkillTotal],
    leaders: Sequence[Mapping[str, Any]],
    industries: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Up to five one-line strengths: leading skill categories, leadership, industries."""
    categories: dict[str, dict[str, Any]] = {}
    for total in totals:
        if total.category:
            entry = categories.setdefault(
                total.category, {"years": Decimal(0), "skills": [], "periods": []}
            )
            entry["skills"].append(total.name)
            entry["periods"].extend(total.periods)
            entry["years"] = max(entry["years"], total.total_years)
    for entry in categories.values():
        entry["years"] = max(entry["years"], years_of_days(union_days(entry["periods"])))
    ranked = sorted(categories.items(), key=lambda kv: (-kv[1]["years"], kv[0].lower()))
    strengths = [f"{name} ({', '.join(entry['skills'][:3])})" for name, entry in ranked[:3]]
    if leaders:
        biggest = max((int(e.get("team_size") or 0) for e in leaders), default=0)
        text = f"Leadership: {len(leaders)} role{'s' if len(leaders) != 1 else ''} at lead level"
        text += " or above"
        if biggest:
            text += f", teams of up to {biggest}"
        strengths.append(text)
    if industries:
        names = [str(i["name"]) for i in industries[:2]]
        strengths.append(f"Industry experience: {', '.join(names)}")
    return strengths[:MAX_STRENGTHS]
