"""Who the users are: accounts, groups, sessions, invitations, SSO links, preferences.

These are the tables every request touches (the auth guard reads ``pf_user_sessions`` and
``pf_users`` on each call), so they carry the invariants the services rely on as CHECKs:
a username is stored only in its canonical lower-case form, a revoked session always says
why, an accepted invitation always says when. Personal fields that are encrypted by
:mod:`pathfinder.security` (phone number, date of birth, MFA secret, OAuth tokens) are
``Text`` because they hold ``pf1.<key_version>.<base64url>`` tokens, never the plain value.

``pf_user_groups`` is defined before ``pf_users`` because every user may point at one
feature group (``feature_group_id``); feature flags can be overridden per group.

Shared names that start with ``pf_user_`` are safe from collision with a per-user table
(``pf_user_<username>_<part>``) because none of them ends with ``_<template part>``;
``tests/schema/test_shared_tables.py`` proves it for every table, index and constraint.
"""

from __future__ import annotations

import sqlalchemy as sa

from pathfinder.schema.shared.base import metadata
from pathfinder.schema.types import (
    JsonDocument,
    UtcDateTime,
    id_type,
    json_checks,
    row_version_column,
)

# Lowest to highest; the RBAC policy compares positions in this tuple.
ROLES = ("user", "admin", "site_admin")
ACCOUNT_STATUSES = (
    "pending_verification",
    "active",
    "suspended",
    "locked",
    "pending_deletion",
    "deleted",
)
INVITATION_STATUSES = ("pending", "accepted", "expired", "revoked")
# What an SSO flow (pf_sso_flows) was started for: signing in (or registering), or linking a
# provider to the signed-in account that started it.
SSO_FLOW_PURPOSES = ("sign_in", "link")
# Why a refresh token stopped being usable. "rotated" is the normal case (it was spent and
# replaced); "reuse_detected" revokes a whole family when a spent token comes back.
SESSION_REVOKE_REASONS = (
    "logout",
    "rotated",
    "reuse_detected",
    "password_changed",
    "mfa_changed",
    "admin_revoked",
    "account_locked",
    "account_deleted",
)
# Single-use links sent by e-mail. Only their SHA-256 is stored.
ACTION_TOKEN_PURPOSES = (
    "email_verification",
    "password_reset",
    "email_change",
    # The second sign-in step: its id (in the MFA token) is spent by the first success.
    "mfa_challenge",
)

# SHA-256 as lower-case hex: refresh tokens, invitation tokens, recovery codes.
SHA256_HEX_LENGTH = 64
# RFC 5321 limits a forward path to 254 characters.
EMAIL_LENGTH = 254
# Large enough for an IPv6 address with an embedded IPv4 suffix.
IP_ADDRESS_LENGTH = 45


def _is_sha256_hex(column: str) -> sa.ColumnElement[bool]:
    """A length check that keeps a raw token from being stored where its hash belongs."""
    return sa.func.length(sa.column(column)) == SHA256_HEX_LENGTH


user_groups = sa.Table(
    "pf_user_groups",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("description", sa.String(500)),
    # Higher wins when a flag is overridden for several groups a user could belong to.
    sa.Column("priority", sa.Integer(), nullable=False),
    # New users join the default group; the service keeps at most one (a partial unique
    # index is not portable to Oracle).
    sa.Column("is_default", sa.Boolean(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

users = sa.Table(
    "pf_users",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    # Canonical form from pathfinder.schema.naming.normalize_username: it becomes part of
    # the user's table names, so it is unique exactly as stored.
    sa.Column("username", sa.String(30), nullable=False, unique=True),
    sa.Column("email", sa.String(EMAIL_LENGTH), nullable=False),
    # casefold() of the address: the uniqueness key and the login lookup.
    sa.Column("email_normalized", sa.String(EMAIL_LENGTH), nullable=False, unique=True),
    sa.Column("email_verified", sa.Boolean(), nullable=False),
    sa.Column("email_verified_at", UtcDateTime()),
    # argon2id encoded hash; NULL for accounts that only sign in through SSO.
    sa.Column("password_hash", sa.String(255)),
    sa.Column("password_changed_at", UtcDateTime()),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("account_status", sa.String(30), nullable=False),
    sa.Column("first_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("phone_number", sa.Text()),  # encrypted token
    # Whether someone confirmed the number above belongs to the user; cleared whenever the
    # number changes (shared schema 3; NULL: not verified).
    sa.Column("phone_verified", sa.Boolean()),
    # Link to the user's picture (shared schema 3): an encrypted token, since a picture
    # identifies a person as surely as a name.
    sa.Column("avatar_url", sa.Text()),
    sa.Column("date_of_birth", sa.Text()),  # encrypted token
    sa.Column("timezone", sa.String(64)),  # IANA name, e.g. America/Vancouver
    sa.Column("language", sa.String(16)),  # BCP 47 tag, e.g. en-CA
    sa.Column("bio", sa.Text()),
    sa.Column("title", sa.String(200)),
    sa.Column("company", sa.String(200)),
    sa.Column("years_of_experience", sa.Integer()),
    sa.Column("mfa_enabled", sa.Boolean(), nullable=False),
    sa.Column("mfa_secret", sa.Text()),  # encrypted token of the TOTP seed
    row_version_column(),  # in the AAD of the encrypted cells above (shared schema 3)
    # Last accepted TOTP time-step (unix time // 30): a code from it or earlier is a replay.
    sa.Column("mfa_last_timestep", sa.Integer()),
    sa.Column("failed_login_count", sa.Integer(), nullable=False),
    # Failures older than the lockout window no longer count (see pathfinder.auth.service).
    sa.Column("last_failed_login_at", UtcDateTime()),
    sa.Column("locked_until", UtcDateTime()),
    sa.Column("last_login", UtcDateTime()),
    sa.Column("total_logins", sa.Integer(), nullable=False),
    sa.Column("last_activity_at", UtcDateTime()),
    sa.Column("feature_group_id", id_type(), sa.ForeignKey(user_groups.c.id, ondelete="SET NULL")),
    # Who invited the user and when they accepted (shared schema 3; NULL for self-registered
    # accounts and for accounts from before). A self-reference: the inviter may be deleted.
    sa.Column("invited_by", id_type()),
    sa.Column("invitation_accepted_at", UtcDateTime()),
    sa.Column("deletion_requested_at", UtcDateTime()),
    sa.Column("deletion_scheduled_for", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("username") == sa.func.lower(sa.column("username")), name="uname"),
    sa.CheckConstraint(sa.column("role").in_(ROLES), name="role"),
    sa.CheckConstraint(sa.column("account_status").in_(ACCOUNT_STATUSES), name="status"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("years_of_experience").is_(None),
            sa.column("years_of_experience").between(0, 80),
        ),
        name="years",
    ),
    sa.CheckConstraint(sa.column("failed_login_count") >= 0, name="failed"),
    sa.CheckConstraint(sa.column("total_logins") >= 0, name="logins"),
    # MFA cannot be on without a secret to check codes against.
    sa.CheckConstraint(
        sa.or_(
            sa.column("mfa_enabled", sa.Boolean()) == sa.false(),
            sa.column("mfa_secret").is_not(None),
        ),
        name="mfa",
    ),
    # The deletion job selects on deletion_scheduled_for; a pending deletion must have one.
    sa.CheckConstraint(
        sa.or_(
            sa.column("account_status") != "pending_deletion",
            sa.column("deletion_scheduled_for").is_not(None),
        ),
        name="deletion",
    ),
    sa.ForeignKeyConstraint(["invited_by"], ["pf_users.id"], ondelete="SET NULL"),
    sa.Index(None, "account_status", "deletion_scheduled_for"),
    # Active users by recent activity (the seed's last-activity and recent-activity
    # indexes, shared schema 3).
    sa.Index(None, "account_status", "last_activity_at"),
    sa.Index(None, "feature_group_id"),
    sa.Index(None, "invited_by"),
)

user_sessions = sa.Table(
    "pf_user_sessions",
    metadata,
    # One row per refresh token. Rotation inserts a new row in the same family and points
    # the spent row at it (replaced_by); presenting a spent token revokes the family.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("family_id", id_type(), nullable=False),
    sa.Column("refresh_token_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime()),
    sa.Column("revoked_reason", sa.String(30)),
    sa.Column("replaced_by", id_type()),
    sa.Column("ip_address", sa.String(IP_ADDRESS_LENGTH)),
    sa.Column("user_agent", sa.String(500)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_activity_at", UtcDateTime()),
    sa.ForeignKeyConstraint(["replaced_by"], ["pf_user_sessions.id"], ondelete="SET NULL"),
    sa.CheckConstraint(_is_sha256_hex("refresh_token_hash"), name="hash"),
    sa.CheckConstraint(
        sa.or_(
            sa.column("revoked_reason").is_(None),
            sa.column("revoked_reason").in_(SESSION_REVOKE_REASONS),
        ),
        name="reason",
    ),
    # A revoked session always says why, and a reason never appears on a live session.
    sa.CheckConstraint(
        sa.or_(
            sa.and_(sa.column("revoked_at").is_(None), sa.column("revoked_reason").is_(None)),
            sa.and_(sa.column("revoked_at").is_not(None), sa.column("revoked_reason").is_not(None)),
        ),
        name="revoked",
    ),
    sa.CheckConstraint(sa.column("expires_at") > sa.column("created_at"), name="expiry"),
    sa.Index(None, "user_id"),
    sa.Index(None, "expires_at"),
    sa.Index(None, "family_id"),
    sa.Index(None, "replaced_by"),
)

user_invitations = sa.Table(
    "pf_user_invitations",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("email", sa.String(EMAIL_LENGTH), nullable=False),
    sa.Column("email_normalized", sa.String(EMAIL_LENGTH), nullable=False),
    # Applied to the account created on acceptance.
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("feature_group_id", id_type(), sa.ForeignKey(user_groups.c.id, ondelete="SET NULL")),
    sa.Column("token_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    sa.Column("invited_by", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("accepted_at", UtcDateTime()),
    sa.Column("accepted_user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="SET NULL")),
    sa.Column("reminder_sent_at", UtcDateTime()),
    sa.Column("revoked_at", UtcDateTime()),
    # Set when the invitee said no (shared schema 3): the invitation is then closed like a
    # revoked one (status revoked, revoked_at), so the status CHECK of existing databases
    # holds; the API shows it as declined.
    sa.Column("declined_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("role").in_(ROLES), name="role"),
    sa.CheckConstraint(sa.column("status").in_(INVITATION_STATUSES), name="status"),
    sa.CheckConstraint(_is_sha256_hex("token_hash"), name="hash"),
    sa.CheckConstraint(
        sa.or_(sa.column("status") != "accepted", sa.column("accepted_at").is_not(None)),
        name="accepted",
    ),
    sa.CheckConstraint(
        sa.or_(sa.column("status") != "revoked", sa.column("revoked_at").is_not(None)),
        name="revoked",
    ),
    sa.CheckConstraint(sa.column("expires_at") > sa.column("created_at"), name="expiry"),
    # "Is there a pending invitation for this address?" and the expiry/reminder job.
    sa.Index(None, "email_normalized", "status"),
    sa.Index(None, "status", "expires_at"),
    sa.Index(None, "invited_by"),
    sa.Index(None, "accepted_user_id"),
    sa.Index(None, "feature_group_id"),
)

sso_accounts = sa.Table(
    "pf_sso_accounts",
    metadata,
    # A user may link several accounts, even two from one provider.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    # The configured provider's name (SSO_PROVIDERS): providers are configuration, not an
    # enumeration of the schema, so the name is checked by the settings loader only.
    sa.Column("provider", sa.String(20), nullable=False),
    # The provider's subject identifier (the ID token's "sub"): not a ULID.
    sa.Column("provider_user_id", sa.String(255), nullable=False),
    sa.Column("email", sa.String(EMAIL_LENGTH)),
    # Provider tokens are never stored (docs/security.md, "Single sign-on"): these stay NULL.
    sa.Column("access_token", sa.Text()),  # encrypted token
    sa.Column("refresh_token", sa.Text()),  # encrypted token
    row_version_column(),
    sa.Column("token_expires_at", UtcDateTime()),
    sa.Column("profile_data", JsonDocument()),
    sa.Column("last_used_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Shared schema 3. A subject is unique only within its issuer (OpenID Connect Core
    # 2): the issuer the link was made with is kept, and a sign-in through a provider
    # whose configured issuer has changed since does not match it.
    sa.Column("issuer", sa.String(255)),
    # Shown when listing linked accounts; refreshed at each sign-in.
    sa.Column("display_name", sa.String(200)),
    sa.Column("avatar_url", sa.String(1000)),
    # The account the user chose to show first; the service keeps at most one per user.
    sa.Column("is_primary", sa.Boolean()),
    sa.UniqueConstraint("provider", "provider_user_id"),
    sa.Index(None, "user_id"),
    *json_checks("profile_data"),
)

sso_flows = sa.Table(
    "pf_sso_flows",
    metadata,
    # Shared schema 3. One row per started OpenID Connect flow: the server side of its
    # state. The state travels in the redirect; only its SHA-256 is stored, and the PKCE
    # verifier and the nonce are derived from it with a server key (pathfinder.sso.flows),
    # so a copy of this table redeems nothing. Spent once (used_at) by the callback.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("state_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    # SHA-256 of the browser-binding cookie the flow was started with (login CSRF).
    sa.Column("binding_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("purpose", sa.String(20), nullable=False),
    # The signed-in owner who started a link; NULL for a sign-in.
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE")),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("used_at", UtcDateTime()),
    # A sign-in of an identity linked to no account may register once from this flow.
    sa.Column("registered_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(_is_sha256_hex("state_hash"), name="state_hash"),
    sa.CheckConstraint(_is_sha256_hex("binding_hash"), name="binding_hash"),
    sa.CheckConstraint(sa.column("purpose").in_(SSO_FLOW_PURPOSES), name="purpose"),
    sa.CheckConstraint(
        sa.or_(sa.column("purpose") != "link", sa.column("user_id").is_not(None)),
        name="link_owner",
    ),
    sa.CheckConstraint(sa.column("expires_at") > sa.column("created_at"), name="expiry"),
    sa.Index(None, "expires_at"),
    sa.Index(None, "user_id"),
)

user_preferences = sa.Table(
    "pf_user_preferences",
    metadata,
    sa.Column(
        "user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("preferences", JsonDocument(), nullable=False),
    sa.Column("notification_settings", JsonDocument(), nullable=False),
    sa.Column("privacy_settings", JsonDocument(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    *json_checks("preferences", "notification_settings", "privacy_settings"),
)

recovery_codes = sa.Table(
    "pf_user_recovery_codes",
    metadata,
    # MFA recovery codes: one row per code, hashed, single use. Regenerating the set
    # deletes the user's rows and inserts new ones.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("code_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    sa.Column("used_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(_is_sha256_hex("code_hash"), name="hash"),
    sa.Index(None, "user_id"),
)

action_tokens = sa.Table(
    "pf_user_action_tokens",
    metadata,
    # E-mailed single-use links (verify an address, reset a password, confirm a new
    # address). The link carries the token; only its SHA-256 is stored, so a database
    # leak does not leak working links. Spending one is an UPDATE ... WHERE used_at IS NULL.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.String(30), nullable=False),
    sa.Column("token_hash", sa.String(SHA256_HEX_LENGTH), nullable=False, unique=True),
    # The address an email_change token confirms; NULL for the other purposes.
    sa.Column("new_email", sa.String(EMAIL_LENGTH)),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("used_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(sa.column("purpose").in_(ACTION_TOKEN_PURPOSES), name="purpose"),
    sa.CheckConstraint(_is_sha256_hex("token_hash"), name="hash"),
    sa.CheckConstraint(sa.column("expires_at") > sa.column("created_at"), name="expiry"),
    sa.CheckConstraint(
        sa.or_(sa.column("purpose") != "email_change", sa.column("new_email").is_not(None)),
        name="new_email",
    ),
    sa.Index(None, "user_id", "purpose"),
    sa.Index(None, "expires_at"),
)

IDEMPOTENCY_STATES = ("in_progress", "completed")

idempotency_keys = sa.Table(
    "pf_idempotency_keys",
    metadata,
    # One row per (user, Idempotency-Key) of a POST that creates something: the first
    # request's fingerprint and, once it succeeded, its answer, replayed to a retry. The key
    # is stored as its SHA-256; the answer (which holds the user's data, decrypted) is
    # sealed with the user's data key like every other encrypted cell.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", id_type(), sa.ForeignKey(users.c.id, ondelete="CASCADE"), nullable=False),
    sa.Column("key_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    # SHA-256 of method, path, query and body: the same key with another request is refused.
    sa.Column("request_hash", sa.String(SHA256_HEX_LENGTH), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("response_status", sa.Integer()),
    sa.Column("response_headers", JsonDocument()),
    sa.Column("response_body", sa.Text()),  # encrypted token
    row_version_column(),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("user_id", "key_hash"),
    sa.CheckConstraint(sa.column("state").in_(IDEMPOTENCY_STATES), name="state"),
    sa.CheckConstraint(_is_sha256_hex("key_hash"), name="key_hash"),
    sa.CheckConstraint(_is_sha256_hex("request_hash"), name="req_hash"),
    sa.CheckConstraint(sa.column("expires_at") > sa.column("created_at"), name="expiry"),
    sa.Index(None, "expires_at"),
    *json_checks("response_headers"),
)
