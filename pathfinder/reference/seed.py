"""Seeding the reference tables from :mod:`pathfinder.reference.seed_data` (``db init``).

Kept apart from the service so ``pathfinder.db.setup`` imports only what seeding needs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.reference import repo
from pathfinder.reference.repo import normalize_skill_name
from pathfinder.reference.seed_data import catalog_entries
from pathfinder.reference.seed_paths import CAREER_PATHS


def seed_reference_data(conn: Connection) -> dict[str, int]:
    """Insert the seeded skills and career paths that are missing; never overwrite.

    Called by ``pathfinder db init`` inside its transaction, so it is safe to repeat: it
    adds only what a newer seed brings and leaves admin edits alone. A seeded entry whose
    name is already a term of another entry (an admin added it as an alias) is skipped, and
    seeded aliases already taken are dropped, so seeding never makes a term ambiguous.
    Deleting a seeded entry does not retire it (the next run inserts it again); deactivate
    it (``is_active: false``) instead.
    """
    now = datetime.now(UTC)
    taken = set(repo.term_owners(conn, except_id=None))
    skills = []
    for entry in catalog_entries():
        key = normalize_skill_name(entry.name)
        if key in taken:
            continue
        aliases = [a for a in entry.aliases if normalize_skill_name(a) not in taken]
        taken.add(key)
        taken.update(normalize_skill_name(a) for a in aliases)
        skills.append(
            {
                "id": new_id(),
                "name": entry.name,
                "normalized_name": key,
                "category": entry.category,
                "aliases": aliases,
                "description": None,
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    keys = repo.existing_path_keys(conn)
    paths = [
        {**path, "id": new_id(), "created_at": now, "updated_at": now}
        for path in CAREER_PATHS
        if path["path_key"] not in keys
    ]
    return {
        "skills": repo.insert_skills(conn, skills),
        "career_paths": repo.insert_career_paths(conn, paths),
    }
