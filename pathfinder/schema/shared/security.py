"""Per-user data keys and the tamper-evident audit log.

``pf_encryption_keys`` holds each user's data-encryption keys (DEKs) wrapped by a master
key (KEK). A field token ``pf1.<key_version>.<...>`` names the DEK version that sealed it,
so old versions stay until every value is re-encrypted. Destroying a user's keys is the
crypto-shredding step of account deletion: the row stays (it records that the version
existed and when it was destroyed) but the wrapped key is erased, which a CHECK enforces.

``pf_audit_log`` is append-only and forms a hash chain in ``seq`` order: each row's
``row_hash`` covers the row and ``prev_hash``. Actors and targets are stored as ids with
optional display fields; those display fields, ``ip_address`` and ``user_agent`` are the
columns pseudonymisation may set to NULL after an account is deleted, so the chain must not
depend on their clear values (``pathfinder.audit`` owns the exact hash input). The seed
declared its indexes as MySQL inline ``INDEX`` clauses, which Oracle rejects: here every
index is a separate, named ``CREATE INDEX``. ``pf_audit_chain`` is the one row that
serialises appends: a writer locks it (SELECT ... FOR UPDATE) to read the chain head, so two
transactions can never link to the same previous row on PostgreSQL or Oracle.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.shared.identity import IP_ADDRESS_LENGTH, SHA256_HEX_LENGTH, users
from pathfinder.schema.types import JsonDocument, UtcDateTime, id_type, json_checks

KEY_STATUSES = ("active", "retired", "destroyed")
AUDIT_OUTCOMES = ("success", "failure")


def _is_sha256_hex(column: str) -> sa.ColumnElement[bool]:
    return sa.func.length(sa.column(column)) == SHA256_HEX_LENGTH


encryption_keys = sa.Table(
    "pf_encryption_keys",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # The seed pointed this at a pf_users column that did not exist; it is the user's id.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("key_version", sa.Integer(), nullable=False),
    # base64url(nonce | AES-GCM(KEK, DEK) | tag); erased (NULL) when the key is destroyed.
    sa.Column("key_encrypted", sa.String(512)),
    # Salt of the key-derivation step the key provider may apply to the KEK (base64url).
    sa.Column("key_salt", sa.String(64)),
    sa.Column("algorithm", sa.String(30), nullable=False),
    # Which KEK wrapped this DEK; KEK rotation re-wraps rows with an older version.
    sa.Column("kek_version", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("rotation_count", sa.Integer(), nullable=False),
    sa.Column("last_rotated", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("destroyed_at", UtcDateTime()),
    sa.UniqueConstraint("user_id", "key_version"),
    sa.CheckConstraint(sa.column("key_version") >= 1, name="version"),
    sa.CheckConstraint(sa.column("kek_version") >= 1, name="kek"),
    sa.CheckConstraint(sa.column("rotation_count") >= 0, name="rotations"),
    sa.CheckConstraint(sa.column("status").in_(KEY_STATUSES), name="status"),
    # Destroyed means the wrapped key is gone; any other status means it is present.
    sa.CheckConstraint(
        sa.or_(
            sa.and_(
                sa.column("status") == "destroyed",
                sa.column("key_encrypted").is_(None),
                sa.column("destroyed_at").is_not(None),
            ),
            sa.and_(
                sa.column("status") != "destroyed",
                sa.column("key_encrypted").is_not(None),
                sa.column("destroyed_at").is_(None),
            ),
        ),
        name="shred",
    ),
    # The KEK rotation job walks keys still wrapped by an old KEK.
    sa.Index(None, "kek_version", "status"),
)

audit_chain = sa.Table(
    "pf_audit_chain",
    metadata,
    # One row per chain ("main"); holds the head so appends serialise on its row lock.
    sa.Column("chain_key", sa.String(30), primary_key=True),
    sa.Column("last_seq", sa.BigInteger(), nullable=False),
    sa.Column("last_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("last_seq") >= 0, name="seq"),
    sa.CheckConstraint(_is_sha256_hex("last_hash"), name="hash"),
)

audit_log = sa.Table(
    "pf_audit_log",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # Position in the hash chain: 1, 2, 3, ... with no gaps; a gap or a duplicate is
    # tampering. BigInteger because an audit log outlives any 32-bit counter estimate.
    sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    # NULL for the system itself (jobs, CLI run without a user).
    sa.Column("actor_id", id_type()),
    sa.Column("actor_role", sa.String(20)),
    sa.Column("actor_display", sa.String(200)),  # pseudonymisable
    sa.Column("target_type", sa.String(50)),
    sa.Column("target_id", id_type()),
    sa.Column("target_display", sa.String(200)),  # pseudonymisable
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("request_id", id_type()),
    sa.Column("http_method", sa.String(10)),
    sa.Column("request_path", sa.String(1000)),
    sa.Column("status_code", sa.Integer()),
    sa.Column("ip_address", sa.String(IP_ADDRESS_LENGTH)),  # pseudonymisable
    sa.Column("user_agent", sa.String(500)),  # pseudonymisable
    sa.Column("execution_ms", sa.Integer()),
    sa.Column("details", JsonDocument()),
    # The first row links to 64 zeros.
    sa.Column("prev_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("row_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("seq") >= 1, name="seq"),
    sa.CheckConstraint(sa.column("outcome").in_(AUDIT_OUTCOMES), name="outcome"),
    sa.CheckConstraint(_is_sha256_hex("prev_hash"), name="prev_hash"),
    sa.CheckConstraint(_is_sha256_hex("row_hash"), name="row_hash"),
    sa.CheckConstraint(
        sa.or_(sa.column("execution_ms").is_(None), sa.column("execution_ms") >= 0),
        name="exec_ms",
    ),
    sa.Index(None, "actor_id", "created_at"),
    sa.Index(None, "event_type", "created_at"),
    sa.Index(None, "created_at"),
    sa.Index(None, "target_type", "target_id"),
    *json_checks("details"),
)
