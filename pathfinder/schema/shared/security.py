"""Per-user data keys and the tamper-evident audit log.

``pf_encryption_keys`` holds each user's data-encryption keys (DEKs) wrapped by a master
key (KEK). A field token ``pf1.<key_version>.<...>`` names the DEK version that sealed it,
so old versions stay until every value is re-encrypted. Destroying a user's keys is the
crypto-shredding step of account deletion: the row stays (it records that the version
existed and when it was destroyed) but the wrapped key is erased, which a CHECK enforces.

``pf_audit_log`` is append-only (writers need INSERT and SELECT; only pseudonymisation at
erasure updates, see docs/dba.md "Audit log rights"): a writer inserts its row with a
database-assigned ``seq`` and an HMAC ``row_hash`` of the content, in the transaction of the
change it describes, and takes no lock any other writer waits for. Actors and targets are
stored as ids with optional display fields; those display fields, ``ip_address`` and
``user_agent`` are what pseudonymisation replaces after an account is deleted, so the hash
covers keyed references to them, not their clear values (``pathfinder.audit.hashing``). The
sealer integrates committed rows in batches into a Merkle tree (RFC 9162):
``pf_audit_leaves`` fixes each row's place, ``pf_audit_checkpoints`` keeps each signed tree
head, which is also exported outside the database. The seed declared its indexes as MySQL
inline ``INDEX`` clauses, which Oracle rejects: here every index is a separate, named
``CREATE INDEX``.
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

# The life of each master key version, as the application saw it (shared schema 3): when it
# became the wrapping key, when a newer one replaced it, when no data key was wrapped by it
# any more, and when it left the keyring. The KEK schedule job (pathfinder.security.
# kek_schedule) keeps it, and tells from it when an old version may be destroyed: once every
# backup taken while it still wrapped a key has expired (BACKUP_RETENTION_DAYS).
kek_versions = sa.Table(
    "pf_kek_versions",
    metadata,
    sa.Column("kek_version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("current_since", UtcDateTime(), nullable=False),
    sa.Column("superseded_at", UtcDateTime()),
    sa.Column("drained_at", UtcDateTime()),
    sa.Column("removed_at", UtcDateTime()),
    sa.CheckConstraint(sa.column("kek_version") >= 1, name="version"),
)

# The audit log's position counter: assigned by the database, so appending takes no lock
# shared by every writer. BIGINT IDENTITY on PostgreSQL and Oracle; on SQLite the rowid with
# AUTOINCREMENT (a rolled-back insert gives its number back, so SQLite never leaves a gap).
AUDIT_SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_log = sa.Table(
    "pf_audit_log",
    metadata,
    # Commit order is not seq order (two writers take 7 and 8, 8 commits first) and a
    # rolled-back insert leaves a gap on PostgreSQL and Oracle: the sealer, not the writer,
    # fixes each row's place in the Merkle tree (pf_audit_leaves).
    sa.Column("seq", AUDIT_SEQ_TYPE, sa.Identity(), primary_key=True),
    sa.Column("id", id_type(), nullable=False, unique=True),
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
    # HMAC-SHA256 of the row's content (pathfinder.audit.hashing), made by the writer.
    sa.Column("row_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("outcome").in_(AUDIT_OUTCOMES), name="outcome"),
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
    sqlite_autoincrement=True,
)

audit_leaves = sa.Table(
    "pf_audit_leaves",
    metadata,
    # The row's place in the Merkle tree, 0-based; written once by the sealer.
    sa.Column("leaf_index", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
    # The row_hash the sealer saw: an edit, a move or a deletion after sealing disagrees.
    sa.Column("row_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    # The checkpoint (its tree size) that first included this leaf.
    sa.Column("tree_size", sa.BigInteger(), nullable=False),
    sa.CheckConstraint(sa.column("leaf_index") >= 0, name="leaf"),
    sa.CheckConstraint(sa.column("tree_size") > sa.column("leaf_index"), name="size"),
    sa.CheckConstraint(_is_sha256_hex("row_hash"), name="row_hash"),
)

audit_checkpoints = sa.Table(
    "pf_audit_checkpoints",
    metadata,
    # One signed tree head per seal: the tree over the first tree_size leaves.
    sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    # The signed statement, byte for byte as exported (canonical JSON), and its signature.
    sa.Column("body", sa.String(2000), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("signature", sa.String(100), nullable=False),
    # The sealer's working state: the compact range (peaks) and the seq gaps still open.
    sa.Column("state", JsonDocument(), nullable=False),
    sa.Column("sealed_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("tree_size") >= 1, name="size"),
    sa.CheckConstraint(_is_sha256_hex("root_hash"), name="root_hash"),
    *json_checks("state"),
)

# What the retention policy of the audit log has copied out of the database (shared schema
# 3): one row per archive file, the contiguous seq range it holds and its digest. Archiving
# copies sealed rows to a compressed JSON-lines file and leaves them in pf_audit_log (they
# are leaves of the Merkle tree, so deleting them would be a finding of `audit verify`).
audit_archives = sa.Table(
    "pf_audit_archives",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("seq_from", sa.BigInteger(), nullable=False, unique=True),
    sa.Column("seq_to", sa.BigInteger(), nullable=False, unique=True),
    sa.Column("row_count", sa.Integer(), nullable=False),
    sa.Column("first_created_at", UtcDateTime(), nullable=False),
    sa.Column("last_created_at", UtcDateTime(), nullable=False),
    # The file's name in the archive directory, and the SHA-256 of its bytes as written.
    sa.Column("file_name", sa.String(200), nullable=False, unique=True),
    sa.Column("file_sha256", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("file_bytes", sa.BigInteger(), nullable=False),
    # The retention cutoff the rows were older than.
    sa.Column("cutoff", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("seq_to") >= sa.column("seq_from"), name="range"),
    sa.CheckConstraint(sa.column("row_count") >= 1, name="rows"),
    sa.CheckConstraint(_is_sha256_hex("file_sha256"), name="sha256"),
)
