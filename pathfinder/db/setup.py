"""Creating the shared schema (``pathfinder db init``) and reporting on it (``db status``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex

from pathfinder.chat.limits import seed_chat_flags
from pathfinder.cpa.framework import seed_frameworks
from pathfinder.db.database import Database
from pathfinder.flags.system import seed_system_flags
from pathfinder.jobs.retention import seed_retention_policies
from pathfinder.provisioning.catalog import existing_objects
from pathfinder.reference.seed import seed_reference_data
from pathfinder.schema.ddl import AddColumn
from pathfinder.schema.shared import SHARED_SCHEMA_VERSION, metadata
from pathfinder.schema.shared.analytics import rebuild_stale_user_stats
from pathfinder.schema.shared.system import schema_meta, template_versions
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

SHARED_VERSION_KEY = "shared_schema_version"
# The single-lock hash chain of shared schema version 1.
LEGACY_AUDIT_CHAIN = "pf_audit_chain"


class LegacyAuditLog(RuntimeError):
    """The database still has the version 1 audit log, which this release cannot extend."""


TEMPLATE_DESCRIPTIONS = {
    1: "seed tables: experiences, skills, summaries, chat, analytics, archive, career_summary",
    2: "pert_responses table, skills.source column, experiences company index",
    3: "row_version on every table with encrypted cells (bound into each cell's AAD)",
    4: "career_highlights, career_objective (encrypted), skills category index",
}


@dataclass(frozen=True)
class DatabaseStatus:
    dialect: str
    reachable: bool
    shared_schema_version: int | None
    template_version: int | None
    error: str | None = None


def init_database(db: Database, *, production: bool = False) -> list[str]:
    """Create missing shared tables and record the schema versions; safe to repeat.

    ``production`` seeds the system flags with their production defaults (admins need MFA).

    Returns the names of the tables it created.
    """
    now = datetime.now(UTC)
    with db.transaction() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        if LEGACY_AUDIT_CHAIN in existing:
            raise LegacyAuditLog(
                "this database holds the version 1 audit log (pf_audit_chain); the log is now "
                "sealed into a Merkle tree with another row layout. Verify and keep the old "
                "log, then drop pf_audit_chain and pf_audit_log and run `pathfinder db init` "
                "again (docs/audit.md, 'Upgrading from the hash chain')"
            )
        metadata.create_all(conn, checkfirst=True)
        created = [t.name for t in metadata.sorted_tables if t.name not in existing]
        older = [t for t in metadata.sorted_tables if t.name in existing]
        added = add_missing_columns(conn, older)
        created += [f"{table}.{column}" for table, column in added]
        created += add_missing_indexes(conn, older)
        if rebuild_stale_user_stats(conn):
            created.append("pf_mv_user_stats (re-created with the new columns)")
        _upsert_meta(conn, SHARED_VERSION_KEY, str(SHARED_SCHEMA_VERSION), now)
        seed_system_flags(conn, production=production)
        seed_retention_policies(conn)
        seed_chat_flags(conn)
        seed_reference_data(conn)
        seed_frameworks(conn)
        known = set(conn.execute(sa.select(template_versions.c.version)).scalars())
        for version in range(1, LATEST_TEMPLATE_VERSION + 1):
            if version not in known:
                conn.execute(
                    template_versions.insert().values(
                        version=version,
                        description=TEMPLATE_DESCRIPTIONS[version],
                        recorded_at=now,
                    )
                )
    return created


def add_missing_columns(conn: sa.Connection, tables: list[sa.Table]) -> list[tuple[str, str]]:
    """Bring existing shared tables up to date by the additive steps only: ``ALTER TABLE ADD``.

    A shared schema version only ever *adds* columns, each nullable or with a server default
    (shared version 3: ``row_version``), so an upgrade is these ALTERs and nothing is
    rewritten. A missing NOT NULL column without a default cannot be added to rows that
    exist; it is reported rather than guessed.
    """
    inspector = sa.inspect(conn)
    added: list[tuple[str, str]] = []
    for table in tables:
        present = {c["name"].lower() for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name.lower() in present:
                continue
            if not column.nullable and column.server_default is None:
                raise RuntimeError(
                    f"{table.name}.{column.name} is missing and NOT NULL without a default; "
                    "this upgrade needs a manual step (docs/schema.md)"
                )
            conn.execute(AddColumn(table, column))
            added.append((table.name, column.name))
    return added


def add_missing_indexes(conn: sa.Connection, tables: list[sa.Table]) -> list[str]:
    """Create the indexes a shared schema version added to tables that already exist.

    ``create_all`` creates a table's indexes only with the table. Presence is read from the
    catalog by exact name (no reflection of expression indexes, which some dialects warn
    about). Returns the names created.
    """
    created: list[str] = []
    for table in tables:
        wanted = [str(ix.name) for ix in table.indexes]
        present = existing_objects(conn, wanted, schema=None)
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            if str(index.name) not in present:
                conn.execute(CreateIndex(index))
                created.append(str(index.name))
    return created


def _upsert_meta(conn: sa.Connection, key: str, value: str, now: datetime) -> None:
    updated = conn.execute(
        schema_meta.update()
        .where(schema_meta.c.meta_key == key)
        .values(meta_value=value, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(schema_meta.insert().values(meta_key=key, meta_value=value, updated_at=now))


def database_status(db: Database) -> DatabaseStatus:
    """Whether the database answers, and which shared/template versions it records."""
    try:
        with db.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(schema_meta.name):
                return DatabaseStatus(db.dialect_name, True, None, None)
            shared = conn.execute(
                sa.select(schema_meta.c.meta_value).where(
                    schema_meta.c.meta_key == SHARED_VERSION_KEY
                )
            ).scalar()
            template = conn.execute(sa.select(sa.func.max(template_versions.c.version))).scalar()
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        return DatabaseStatus(db.dialect_name, False, None, None, type(exc).__name__)
    return DatabaseStatus(
        db.dialect_name, True, int(shared) if shared is not None else None, template
    )
