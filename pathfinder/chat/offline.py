"""The built-in assistant: deterministic answers from the caller's own profile.

No model and no network: the question is matched against a few intents, in this order,
and the answer is composed from the :class:`ProfileSnapshot`. The same question on the same
data always gets the same answer, which is what makes it testable and safe as a default.

1. help / greeting ("what can you do?")
2. skills for a role ("what skills do I have for a data engineer role?")
3. how many years ("how many years of experience do I have?", "... with Python?")
4. how many roles or companies
5. current role ("what is my current job?")
6. companies ("where have I worked?")
7. list skills ("what are my skills?")
8. summary ("summarise my experience", "tell me about my career")
9. anything else: what it can answer, plus a one-line summary
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pathfinder.analytics.career import experience_years
from pathfinder.chat.profile import CareerPath, ProfileSnapshot, Role, Skill

MAX_LISTED = 12
HELP = (
    'I answer from your own Pathfinder profile. Try: "summarise my experience", '
    '"what skills do I have for a data analyst role?", "how many years of experience '
    'do I have?", "how many years of Python do I have?", "where have I worked?" or '
    '"what is my current role?".'
)
EMPTY_PROFILE = (
    "Your profile has no experiences yet, so I have nothing to answer from. Add your roles "
    "(POST /api/v1/me/experiences) and skills, then ask me again."
)
_STOPWORDS = frozenset(
    "a an and the of for to in on at as my me i do have what which role roles job jobs "
    "position positions become becoming be career path skill skills need needed".split()
)
_ROLE_PATTERNS = (
    re.compile(r"\bskills?\b.*?\b(?:for|as)\s+(?:an?\s+|the\s+)?(?P<role>[^?.!]+)"),
    re.compile(
        r"\b(?:qualified|ready|fit|suited)\s+(?:for|to be)\s+(?:an?\s+|the\s+)?"
        r"(?P<role>[^?.!]+)"
    ),
    re.compile(r"\bbecome\s+(?:an?\s+|the\s+)?(?P<role>[^?.!]+)"),
)
_ROLE_TAIL = re.compile(r"\s+(?:role|position|job|jobs|roles|positions)\s*$")


def _fmt_years(years: float) -> str:
    return f"{years:g} year" + ("" if years == 1 else "s")


def _fmt_date(value: object) -> str:
    return value.strftime("%b %Y") if hasattr(value, "strftime") else "?"


def _role_line(role: Role) -> str:
    where = f" at {role.company}" if role.company else ""
    end = "present" if role.end_date is None else _fmt_date(role.end_date)
    return f"{role.title}{where} ({_fmt_date(role.start_date)} – {end})"


def _listing(items: Iterable[str]) -> str:
    values = list(items)
    shown = values[:MAX_LISTED]
    more = len(values) - len(shown)
    text = ", ".join(shown)
    return f"{text} and {more} more" if more > 0 else text


def _mentions(text: str, name: str) -> bool:
    """Whether ``name`` occurs in ``text`` as a whole term (``C++`` and ``C#`` included)."""
    pattern = r"(?<![\w+#.])" + re.escape(name.lower()) + r"(?![\w+#])"
    return re.search(pattern, text) is not None


def _skill_names(profile: ProfileSnapshot) -> dict[str, str]:
    """Every skill the profile shows (skills and technologies): lower-case -> display name."""
    names: dict[str, str] = {}
    for skill in profile.skills:
        names.setdefault(skill.name.strip().lower(), skill.name.strip())
    for role in profile.roles:
        for tech in role.technologies:
            names.setdefault(tech.strip().lower(), tech.strip())
    names.pop("", None)
    return names


def _canonical_names(profile: ProfileSnapshot) -> set[str]:
    """The profile's skills under their catalog names (aliases resolved)."""
    return {profile.canonical(name) for name in _skill_names(profile)}


def summary(profile: ProfileSnapshot) -> str:
    """The experience summary: totals, current role, then recent roles."""
    roles = profile.roles
    companies = profile.companies
    parts = []
    if profile.headline:
        parts.append(profile.headline.rstrip(".") + ".")
    parts.append(
        f"You have {_fmt_years(profile.total_years)} of experience across {len(roles)} "
        f"role{'s' if len(roles) != 1 else ''}"
        + (
            f" at {len(companies)} compan{'ies' if len(companies) != 1 else 'y'}"
            if companies
            else ""
        )
        + "."
    )
    current = profile.current_roles
    if current:
        parts.append("Currently: " + "; ".join(_role_line(r) for r in current) + ".")
    earlier = [r for r in roles if r not in current]
    if earlier:
        parts.append("Before that: " + "; ".join(_role_line(r) for r in earlier[:5]) + ".")
    industries = sorted({r.industry for r in roles if r.industry})
    if industries:
        parts.append("Industries: " + _listing(industries) + ".")
    top = [s.name for s in sorted(profile.skills, key=_skill_rank)][:8]
    if top:
        parts.append("Top skills: " + ", ".join(top) + ".")
    return " ".join(parts)


def _skill_rank(skill: Skill) -> tuple[int, int, float, str]:
    return (
        0 if skill.is_primary else 1,
        -(skill.proficiency_level or 0),
        -(skill.years_experience or 0.0),
        skill.name.lower(),
    )


def skills_by_category(profile: ProfileSnapshot) -> str:
    if not profile.skills:
        techs = sorted(_skill_names(profile).values(), key=str.lower)
        if techs:
            return "Your roles list these technologies: " + _listing(techs) + "."
        return "You have not recorded any skills yet."
    groups: dict[str, list[str]] = {}
    for skill in sorted(profile.skills, key=_skill_rank):
        category = (skill.category or "other").strip() or "other"
        if skill.name not in groups.setdefault(category, []):
            groups[category].append(skill.name)
    lines = [f"{cat}: {_listing(names)}" for cat, names in sorted(groups.items())]
    return "Your skills by category — " + "; ".join(lines) + "."


def years_with_skill(profile: ProfileSnapshot, key: str) -> tuple[float, list[Role]]:
    """Years using a skill: roles that list it (overlaps once), or its recorded years.

    "Spark" on one role and "Apache Spark" on another are one skill (catalog aliases).
    """
    wanted = profile.canonical(key)
    linked_ids = {
        s.experience_id
        for s in profile.skills
        if s.experience_id and profile.canonical(s.name) == wanted
    }
    roles = [
        r
        for r in profile.roles
        if r.id in linked_ids or wanted in {profile.canonical(t) for t in r.technologies}
    ]
    from_roles = experience_years([r.period for r in roles], profile.on_date)
    recorded = [
        s.years_experience
        for s in profile.skills
        if profile.canonical(s.name) == wanted and s.years_experience is not None
    ]
    return max([from_roles, *recorded]), roles


def _mentionable(profile: ProfileSnapshot) -> dict[str, str]:
    """Terms that name one of the profile's skills -> how the profile spells it.

    The profile's own names, plus every catalog name and alias of the same skill, so a
    question about "Apache Spark" finds the "Spark" on a role.
    """
    names = _skill_names(profile)
    by_canonical = {profile.canonical(key): display for key, display in names.items()}
    terms = dict(names)
    for alias, canonical in profile.skill_aliases.items():
        if canonical in by_canonical:
            terms.setdefault(alias, by_canonical[canonical])
    return terms


def how_many_years(profile: ProfileSnapshot, text: str) -> str:
    names = _mentionable(profile)
    for key in sorted(names, key=len, reverse=True):
        if _mentions(text, key):
            years, roles = years_with_skill(profile, key)
            answer = f"You have {_fmt_years(years)} of experience with {names[key]}"
            if roles:
                answer += ", from your roles as " + "; ".join(_role_line(r) for r in roles[:5])
            return answer + "."
    return (
        f"You have {_fmt_years(profile.total_years)} of experience in total "
        "(overlapping roles counted once)."
    )


def _role_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9+#]+", text.lower()) if w not in _STOPWORDS}


def _matching_paths(profile: ProfileSnapshot, role: str) -> list[tuple[CareerPath, list[str]]]:
    """Career paths whose title or a stage title matches ``role``, with the skills asked."""
    wanted = _role_words(role)
    if not wanted:
        return []
    found = []
    for path in profile.career_paths:
        skills: list[str] = []
        matched = False
        if wanted <= _role_words(path.title):
            matched = True
            skills.extend(path.required_skills)
        for title, stage_skills in path.stages:
            if wanted <= _role_words(title):
                matched = True
                skills.extend(stage_skills)
        if matched:
            found.append((path, list(dict.fromkeys(skills or path.required_skills))))
    return found


def skills_for_role(profile: ProfileSnapshot, role: str) -> str:
    """The caller's skills relevant to ``role``: against career paths, then past roles."""
    role = _ROLE_TAIL.sub("", role.strip().rstrip("?.! ")).strip()
    have = _skill_names(profile)
    have_canonical = _canonical_names(profile)
    parts: list[str] = []
    for path, wanted in _matching_paths(profile, role)[:2]:
        if not wanted:
            continue
        present = [s for s in wanted if profile.canonical(s) in have_canonical]
        missing = [s for s in wanted if profile.canonical(s) not in have_canonical]
        line = (
            f"The {path.title} career path asks for {len(wanted)} skills; you have {len(present)}"
        )
        line += (": " + _listing(present)) if present else ""
        line += (". Still to build: " + _listing(missing)) if missing else ""
        parts.append(line + ".")
    wanted_words = _role_words(role)
    related = [r for r in profile.roles if wanted_words and wanted_words <= _role_words(r.title)]
    if related:
        ids = {r.id for r in related}
        used = [s.name for s in profile.skills if s.experience_id in ids]
        used += [t for r in related for t in r.technologies]
        used = list(dict.fromkeys(used))
        line = "From your related roles (" + "; ".join(_role_line(r) for r in related[:3]) + ")"
        line += (": " + _listing(used)) if used else ": no skills recorded on them yet"
        parts.append(line + ".")
    if not parts:
        skills = sorted(have.values(), key=str.lower)
        if not skills:
            return (
                f'I found no career path or past role matching "{role}", and you have not '
                "recorded skills yet."
            )
        return (
            f'I found no career path or past role matching "{role}". Your recorded skills '
            "are: " + _listing(skills) + "."
        )
    return f"For {role}: " + " ".join(parts)


def answer(question: str, profile: ProfileSnapshot) -> str:
    """The offline assistant's reply to ``question`` (see the module docstring)."""
    text = " ".join(question.lower().split())
    words = set(re.findall(r"[a-z]+", text))
    if not text or words <= {"hi", "hello", "hey", "help"} or "what can you" in text:
        return HELP
    if not profile.roles and not profile.skills:
        return EMPTY_PROFILE
    for pattern in _ROLE_PATTERNS:
        match = pattern.search(text)
        if match and match.group("role").strip():
            return skills_for_role(profile, match.group("role"))
    if "how many years" in text or "how long" in text or "years of experience" in text:
        return how_many_years(profile, text)
    if "how many" in text and words & {"roles", "jobs", "positions"}:
        return f"You have held {len(profile.roles)} role{'s' if len(profile.roles) != 1 else ''}."
    if "how many" in text and words & {"companies", "employers"}:
        count = len(profile.companies)
        return f"You have worked at {count} compan{'ies' if count != 1 else 'y'}."
    if words & {"current", "currently", "now"} and words & {
        "role",
        "job",
        "position",
        "title",
        "work",
        "working",
    }:
        current = profile.current_roles
        if not current:
            return (
                "You have no current role recorded. Most recent: "
                + _role_line(profile.roles[0])
                + "."
                if profile.roles
                else "You have no roles recorded."
            )
        return "Your current role: " + "; ".join(_role_line(r) for r in current) + "."
    if words & {"companies", "employers", "company", "employer"} or "where have i worked" in text:
        companies = profile.companies
        if not companies:
            return "None of your roles names a company yet."
        return "You have worked at: " + _listing(companies) + "."
    if "skill" in text:
        return skills_by_category(profile)
    if words & {
        "summarise",
        "summarize",
        "summary",
        "overview",
        "experience",
        "background",
        "career",
        "resume",
        "cv",
        "about",
    }:
        return summary(profile)
    return HELP + " In short: " + summary(profile)
