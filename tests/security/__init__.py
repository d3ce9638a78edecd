"""Helpers for the key-management tests: users, keyrings, and data in every encrypted column.

``add_user`` does what registration will do: insert the ``pf_users`` row and create the
first data key in one transaction, then provision the user's tables. ``seed_user_data``
writes rows through :meth:`FieldCipher.seal_row` into every registered table, and
``read_plaintexts`` / ``raw_values`` read them back through the codec and straight from the
database, so a test can compare what went in, what is stored and what comes out.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.db import Database
from pathfinder.ids import new_id
from pathfinder.provisioning import Provisioner, registry
from pathfinder.schema.shared.cpa import competencies, experiences, frameworks, reports
from pathfinder.schema.shared.cpa_sharing import comments, mentor_meetings, shares, verifications
from pathfinder.schema.shared.identity import idempotency_keys, sso_accounts, users
from pathfinder.security.fields import ENCRYPTED_COLUMNS, FieldCipher
from pathfinder.security.keys import DataKeyStore, LocalKeyProvider
from pathfinder.security.rotation import UserRef

# (table name, row id, column) -> value
Values = dict[tuple[str, str, str], str]


def now() -> datetime:
    return datetime.now(UTC)


def new_kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def keyring(*versions: int, keys: dict[int, str] | None = None) -> dict[str, str]:
    """A KEK_KEYRING mapping with the given versions (reusing ``keys`` where given)."""
    keys = keys if keys is not None else {}
    for version in versions:
        keys.setdefault(version, new_kek())
    return {str(v): keys[v] for v in versions}


def store_for(ring: dict[str, str], **kwargs: Any) -> DataKeyStore:
    return DataKeyStore(LocalKeyProvider.from_config({"KEK_KEYRING": ring}), **kwargs)


def insert_user_row(conn: Connection, username: str) -> str:
    """A minimal pf_users row (only the NOT NULL columns); returns its id."""
    user_id = new_id()
    stamp = now()
    conn.execute(
        users.insert().values(
            id=user_id,
            username=username,
            email=f"{username}@example.com",
            email_normalized=f"{username}@example.com",
            email_verified=True,
            role="user",
            account_status="active",
            mfa_enabled=False,
            failed_login_count=0,
            total_logins=0,
            created_at=stamp,
            updated_at=stamp,
        )
    )
    return user_id


def add_user(
    db: Database,
    keys: DataKeyStore,
    username: str,
    *,
    provision: bool = True,
    template_version: int | None = None,
) -> UserRef:
    """Register ``username`` as the auth service will: user row plus first key, one commit."""
    with db.transaction() as conn:
        user_id = insert_user_row(conn, username)
        keys.ensure_user_key(conn, user_id)
    if provision:
        if template_version is None:
            Provisioner(db).provision(username)
        else:
            Provisioner(db).provision(username, version=template_version)
    return UserRef(user_id, username)


def _ensure_framework(conn: Connection) -> None:
    if conn.execute(sa.select(frameworks.c.framework_version)).first() is not None:
        return
    stamp = now()
    conn.execute(
        frameworks.insert().values(
            framework_version="PER-2021",
            name="Practical Experience Requirements",
            effective_from=date(2021, 1, 1),
            rules={},
            created_at=stamp,
            updated_at=stamp,
        )
    )
    conn.execute(
        competencies.insert().values(
            framework_version="PER-2021",
            code="FR1",
            kind="technical",
            area_code="FR",
            area_name="Financial Reporting",
            name="Financial reporting needs and systems",
            sort_order=1,
            created_at=stamp,
            updated_at=stamp,
        )
    )


def secret_text(user: UserRef, table: str, column: str, index: int) -> str:
    """A value that is easy to spot in raw rows, with non-ASCII text in it."""
    return f"SECRET:{user.username}:{table}:{column}:{index}: naïve café ✓"


@contextmanager
def _sealing(
    db: Database, keys: DataKeyStore, username: str, per_user: bool
) -> Iterator[tuple[Connection, Any, FieldCipher]]:
    if per_user:
        with db.transaction() as conn:
            record = registry.get_tenant(conn, username)
        assert record is not None and record.template_version is not None, "not provisioned"
        with db.tenant_transaction(username) as (conn, _latest):
            tables = db.tables_for(username, record.template_version)
            yield conn, tables, FieldCipher(keys, conn)
    else:
        with db.transaction() as conn:
            yield conn, None, FieldCipher(keys, conn)


def seed_user_data(
    db: Database,
    keys: DataKeyStore,
    user: UserRef,
    *,
    rows: int = 3,
    per_user: bool = True,
) -> Values:
    """Write ``rows`` rows (where a table allows several) into every registered table."""
    written: Values = {}
    stamp = now()

    def remember(table: str, row: dict[str, Any]) -> dict[str, Any]:
        for column in ENCRYPTED_COLUMNS[table].columns:
            if row.get(column) is not None:
                written[(table, row["id"], column)] = row[column]
        return row

    def narrative(table: str, i: int) -> dict[str, str]:
        return {
            c: secret_text(user, table, c, i)
            for c in ("challenge", "actions", "results", "lessons_learned")
        }

    if per_user:
        with _sealing(db, keys, user.username, True) as (conn, tables, cipher):
            for i in range(rows):
                for table in ("experiences", "experiences_archive"):
                    row: dict[str, Any] = {
                        "id": new_id(),
                        "title": f"Role {i}",
                        "employment_type": "full_time",
                        "start_date": date(2020, 1, 1),
                        "is_current": False,
                        "description": secret_text(user, table, "description", i),
                        "key_achievements": secret_text(user, table, "key_achievements", i),
                        "created_at": stamp,
                        "updated_at": stamp,
                        "row_version": 1,
                    }
                    if table == "experiences_archive":
                        row |= {"archived_at": stamp, "archive_reason": "test"}
                    sealed = cipher.seal_row(table, remember(table, row), user_id=user.id)
                    conn.execute(tables[table].insert().values(sealed))
                conversation = remember(
                    "chat_conversations",
                    {
                        "id": new_id(),
                        "title": f"Chat {i}",
                        "context": secret_text(user, "chat_conversations", "context", i),
                        "message_count": 1,
                        "total_tokens": 0,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "row_version": 1,
                    },
                )
                conn.execute(
                    tables.chat_conversations.insert().values(
                        cipher.seal_row("chat_conversations", conversation, user_id=user.id)
                    )
                )
                message = remember(
                    "chat_messages",
                    {
                        "id": new_id(),
                        "conversation_id": conversation["id"],
                        "role": "user",
                        "content": secret_text(user, "chat_messages", "content", i),
                        "tokens_used": 3,
                        "created_at": stamp,
                        "row_version": 1,
                    },
                )
                conn.execute(
                    tables.chat_messages.insert().values(
                        cipher.seal_row("chat_messages", message, user_id=user.id)
                    )
                )
                if "pert_responses" in tables.tables:
                    draft = remember(
                        "pert_responses",
                        {
                            "id": new_id(),
                            "framework_version": "PER-2021",
                            "sub_competency_code": "FR1",
                            "proficiency_level": 1,
                            "character_count": 10,
                            "word_count": 2,
                            "status": "draft",
                            "created_at": stamp,
                            "updated_at": stamp,
                            "row_version": 1,
                            **narrative("pert_responses", i),
                        },
                    )
                    conn.execute(
                        tables.pert_responses.insert().values(
                            cipher.seal_row("pert_responses", draft, user_id=user.id)
                        )
                    )
            if "quick_summary" in tables.tables and "career_objective" in tables.quick_summary.c:
                objective = remember(
                    "quick_summary",
                    {
                        "id": "0" * 26,
                        "headline": "",
                        "total_years": 0,
                        "total_roles": 0,
                        "key_strengths": [],
                        "top_skills": [],
                        "is_stale": True,
                        "computed_at": stamp,
                        "career_objective": secret_text(user, "quick_summary", "objective", 0),
                        "row_version": 1,
                    },
                )
                conn.execute(
                    tables.quick_summary.insert().values(
                        cipher.seal_row("quick_summary", objective, user_id=user.id)
                    )
                )

    with _sealing(db, keys, user.username, False) as (conn, _none, cipher):
        _ensure_framework(conn)
        personal = {
            "id": user.id,
            "phone_number": f"+1 604 555 01{len(user.username):02d}",
            "date_of_birth": "1990-04-01",
            "mfa_secret": "JBSWY3DPEHPK3PXP" + user.username.upper(),
            "avatar_url": f"https://images.example.com/{user.username}.png",
            "row_version": 1,
        }
        remember("pf_users", personal)
        sealed = cipher.seal_row("pf_users", personal, user_id=user.id)
        conn.execute(
            users.update()
            .where(users.c.id == user.id)
            .values({**{k: v for k, v in sealed.items() if k != "id"}, "mfa_enabled": True})
        )
        for i in range(rows):
            account = remember(
                "pf_sso_accounts",
                {
                    "id": new_id(),
                    "user_id": user.id,
                    "provider": "google",
                    "provider_user_id": f"{user.username}-{i}",
                    "access_token": secret_text(user, "pf_sso_accounts", "access_token", i),
                    "refresh_token": secret_text(user, "pf_sso_accounts", "refresh_token", i),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "row_version": 1,
                },
            )
            conn.execute(
                sso_accounts.insert().values(
                    cipher.seal_row("pf_sso_accounts", account, user_id=user.id)
                )
            )
        for i in range(rows):
            kept = remember(
                "pf_idempotency_keys",
                {
                    "id": new_id(),
                    "response_body": secret_text(user, "pf_idempotency_keys", "response_body", i),
                    "row_version": 1,
                },
            )
            conn.execute(
                idempotency_keys.insert().values(
                    **cipher.seal_row("pf_idempotency_keys", kept, user_id=user.id),
                    user_id=user.id,
                    key_hash=f"{i:064x}",
                    request_hash="0" * 64,
                    state="completed",
                    response_status=201,
                    created_at=stamp,
                    expires_at=stamp + timedelta(days=1),
                )
            )
        report_id = new_id()
        conn.execute(
            reports.insert().values(
                id=report_id,
                user_id=user.id,
                route="EVR",
                framework_version="PER-2021",
                employer_name="Firm",
                position_title="Staff accountant",
                period_start=date(2022, 1, 1),
                period_end=date(2023, 1, 1),
                status="draft",
                version=1,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        for i in range(rows):
            experience = remember(
                "pf_cpa_pert_experiences",
                {
                    "id": new_id(),
                    "report_id": report_id,
                    "user_id": user.id,
                    "framework_version": "PER-2021",
                    "sub_competency_code": "FR1",
                    "experience_title": f"Close {i}",
                    "experience_start_date": date(2022, 2, 1),
                    "proficiency_level": 1,
                    "character_count": 10,
                    "word_count": 2,
                    "approval_status": "draft",
                    "version_number": 1,
                    "is_current_version": True,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "row_version": 1,
                    **narrative("pf_cpa_pert_experiences", i),
                },
            )
            conn.execute(
                experiences.insert().values(
                    cipher.seal_row("pf_cpa_pert_experiences", experience, user_id=user.id)
                )
            )
            _seed_sharing(conn, cipher, user, remember, report_id, experience["id"], i, stamp)
    return written


def _seed_sharing(
    conn: Connection,
    cipher: FieldCipher,
    user: UserRef,
    remember: Any,
    report_id: str,
    experience_id: str,
    i: int,
    stamp: datetime,
) -> None:
    """One row of each CPA sharing table with encrypted cells, on ``experience_id``."""
    share = remember(
        "pf_cpa_shares",
        {
            "id": new_id(),
            "user_id": user.id,
            "report_id": report_id,
            "role": "supervisor",
            "scope": "verify",
            "grantee_kind": "link",
            "grantee_email": secret_text(user, "pf_cpa_shares", "grantee_email", i),
            "token_hash": f"{user.username}{i}".ljust(64, "0")[:64],
            "expires_at": stamp + timedelta(days=30),
            "created_at": stamp,
            "updated_at": stamp,
            "row_version": 1,
        },
    )
    conn.execute(shares.insert().values(cipher.seal_row("pf_cpa_shares", share, user_id=user.id)))
    rows = (
        (
            "pf_cpa_verifications",
            verifications,
            {
                "report_id": report_id,
                "experience_id": experience_id,
                "share_id": share["id"],
                "role": "supervisor",
                "decision": "returned",
            },
        ),
        (
            "pf_cpa_mentor_meetings",
            mentor_meetings,
            {"meeting_date": date(2022, 6, 1), "updated_at": stamp},
        ),
        (
            "pf_cpa_comments",
            comments,
            {
                "report_id": report_id,
                "experience_id": experience_id,
                "author_role": "candidate",
                "is_private": False,
                "updated_at": stamp,
            },
        ),
    )
    for name, table, extra in rows:
        row: dict[str, Any] = {"id": new_id(), "user_id": user.id, "created_at": stamp}
        row |= extra | {"row_version": 1}
        for column in ENCRYPTED_COLUMNS[name].columns:
            row[column] = secret_text(user, name, column, i)
        remember(name, row)
        conn.execute(table.insert().values(cipher.seal_row(name, row, user_id=user.id)))


def _tables(db: Database, user: UserRef) -> Iterator[tuple[str, sa.Table, bool]]:
    """(registered table, Table, per-user) for each registered table ``user`` has."""
    from pathfinder.schema.shared.base import metadata

    with db.transaction() as conn:
        record = registry.get_tenant(conn, user.username)
    ready = record is not None and record.state == "ready" and record.template_version
    for spec in ENCRYPTED_COLUMNS.values():
        if spec.per_user:
            if not ready:
                continue
            tables = db.tables_for(user.username, record.template_version)
            if spec.name in tables.tables and set(spec.columns) <= set(tables[spec.name].c.keys()):
                yield spec.name, tables[spec.name], True
        else:
            yield spec.name, metadata.tables[spec.name], False


@contextmanager
def _unit(db: Database, user: UserRef, per_user: bool) -> Iterator[Connection]:
    if per_user:
        with db.tenant_transaction(user.username) as (conn, _tables):
            yield conn
    else:
        with db.transaction() as conn:
            yield conn


def _owned(query: Any, name: str, table: sa.Table, user: UserRef, per_user: bool) -> Any:
    if per_user:
        return query
    return query.where(table.c[ENCRYPTED_COLUMNS[name].user_column or "id"] == user.id)


def raw_values(db: Database, user: UserRef) -> Values:
    """Every non-NULL registered value of ``user`` exactly as stored (no decryption)."""
    found: Values = {}
    for name, table, per_user in _tables(db, user):
        columns = ENCRYPTED_COLUMNS[name].columns
        query = _owned(
            sa.select(table.c.id, *(table.c[c] for c in columns)), name, table, user, per_user
        )
        with _unit(db, user, per_user) as conn:
            for row in conn.execute(query):
                for column in columns:
                    if row._mapping[column] is not None:
                        found[(name, row.id, column)] = row._mapping[column]
    return found


def read_plaintexts(db: Database, keys: DataKeyStore, user: UserRef) -> Values:
    """Every registered value of ``user``, opened through :meth:`FieldCipher.open_row`."""
    found: Values = {}
    for name, table, per_user in _tables(db, user):
        columns = ENCRYPTED_COLUMNS[name].columns
        with _unit(db, user, per_user) as conn:
            cipher = FieldCipher(keys, conn)
            for row in conn.execute(_owned(sa.select(table), name, table, user, per_user)):
                opened = cipher.open_row(name, row._mapping, user_id=user.id)
                for column in columns:
                    if opened[column] is not None:
                        found[(name, opened["id"], column)] = opened[column]
    return found


def set_raw_value(
    db: Database, user: UserRef, table: str, row_id: str, column: str, value: str
) -> None:
    """Overwrite one stored value behind the codec's back (an attacker with SQL access)."""
    for name, tbl, per_user in _tables(db, user):
        if name == table:
            with _unit(db, user, per_user) as conn:
                conn.execute(tbl.update().where(tbl.c.id == row_id).values({column: value}))
            return
    raise KeyError(table)


def open_one(
    db: Database, keys: DataKeyStore, user: UserRef, table: str, row_id: str
) -> dict[str, Any]:
    """One row of ``table`` opened for ``user`` (raises what the codec raises)."""
    for name, tbl, per_user in _tables(db, user):
        if name == table:
            with _unit(db, user, per_user) as conn:
                row = conn.execute(sa.select(tbl).where(tbl.c.id == row_id)).one()
                return FieldCipher(keys, conn).open_row(table, row._mapping, user_id=user.id)
    raise KeyError(table)
