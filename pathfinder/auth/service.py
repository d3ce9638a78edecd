"""Identity rules: registration, login with lockout and MFA, rotating refresh tokens.

Every function here runs its database work through the app's :class:`Database` and writes
its audit rows in the same transaction as the change they describe. Errors a client can act
on are :mod:`pathfinder.auth.errors` problems; the same answer is given for an unknown user,
a wrong password and a locked account, so nothing reveals which accounts exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy.engine import Connection, RowMapping

from pathfinder import audit
from pathfinder.api.errors import ServiceUnavailable
from pathfinder.auth import repo
from pathfinder.auth.errors import (
    AlreadyTaken,
    InvalidCredentials,
    InvalidToken,
    RegistrationClosed,
    WeakPasswordProblem,
)
from pathfinder.auth.principal import Principal
from pathfinder.auth.settings import AuthSettings
from pathfinder.db import Database, get_database
from pathfinder.flags.system import system_flag
from pathfinder.ids import new_id
from pathfinder.mail import Message, get_mailer
from pathfinder.provisioning import Provisioner, ProvisioningError
from pathfinder.provisioning.registry import get_tenant
from pathfinder.schema.naming import normalize_username
from pathfinder.schema.shared.identity import users
from pathfinder.security import field_secrets
from pathfinder.security.passwords import PasswordHasher, WeakPassword, check_password_policy
from pathfinder.security.tokens import new_token, token_hash


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for sessions and audit rows."""

    ip_address: str | None = None
    user_agent: str | None = None

    def as_audit(self) -> dict[str, Any]:
        return {"ip_address": self.ip_address, "user_agent": self.user_agent}


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    user_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "session_id": self.session_id,
        }


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int

    def as_json(self) -> dict[str, Any]:
        return {"mfa_required": True, "mfa_token": self.mfa_token, "expires_in": self.expires_in}


def settings() -> AuthSettings:
    return AuthSettings.from_config(current_app.config)


def hasher() -> PasswordHasher:
    """The app's password hasher (built once: the dummy hash costs one argon2 run)."""
    existing = current_app.extensions.get("pathfinder.hasher")
    if existing is None:
        existing = PasswordHasher(str(current_app.config.get("PASSWORD_HASH_PROFILE", "default")))
        current_app.extensions["pathfinder.hasher"] = existing
    return existing


def actor_of(user: RowMapping) -> dict[str, Any]:
    """The audit actor for a user row (before a Principal exists)."""
    return {"user_id": user["id"], "username": user["username"], "role": user["role"]}


def enforce_password_policy(
    password: str, *, username: str, email: str, field: str = "password"
) -> None:
    """422 ``weak-password`` naming ``field`` (the body's password field) when the policy
    refuses ``password``: the error entry lets a client show it beside the field."""
    try:
        check_password_policy(password, username=username, email=email)
    except WeakPassword as exc:
        raise WeakPasswordProblem(str(exc), errors=[{"field": field, "message": str(exc)}]) from exc


# -- registration --------------------------------------------------------------------------


def register(
    *,
    username: str,
    email: str,
    password: str,
    meta: RequestMeta,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "user",
    feature_group_id: str | None = None,
    invited: bool = False,
    via: str | None = None,
    conn_hook: Any = None,
) -> str:
    """Create an account, its data key and its tables; return the new user's id.

    All or nothing from the caller's point of view: if provisioning the tables fails, the
    partial tables are dropped and then the user row is deleted (in that order, so no one
    else can take the username in between), and the caller gets a 503 to retry. If the
    process dies half-way, the user row stays with unfinished tables; signing in or
    registering again with the same password finishes the job.
    """
    user = normalize_username(username)
    enforce_password_policy(password, username=user, email=email)
    database = get_database()
    now = utcnow()
    try:
        with database.transaction() as conn:
            if not invited and not system_flag(conn, "self_registration_enabled"):
                raise RegistrationClosed("Self-registration is disabled; ask for an invitation.")
            resumed = _resumable_registration(conn, database, user, email, password)
            if resumed is None:
                taken = repo.username_or_email_taken(conn, user, email)
                if taken:
                    raise AlreadyTaken(f"That {taken} is already registered.", field=taken)
                user_id = new_id()
                repo.insert_user(
                    conn,
                    {
                        "id": user_id,
                        "username": user,
                        "email": email.strip(),
                        "email_normalized": email.strip().casefold(),
                        "email_verified": False,
                        "password_hash": hasher().hash(password),
                        "password_changed_at": now,
                        "role": role,
                        "account_status": "active",
                        "first_name": first_name,
                        "last_name": last_name,
                        "mfa_enabled": False,
                        "failed_login_count": 0,
                        "total_logins": 0,
                        "feature_group_id": feature_group_id,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                field_secrets.create_first_key(conn, user_id)
                audit.record(
                    conn,
                    "user_created",
                    actor={"user_id": user_id, "username": user, "role": role},
                    target_type="user",
                    target_id=user_id,
                    details={
                        "via": via or ("invitation" if invited else "self_registration"),
                        "role": role,
                    },
                    request_meta=meta.as_audit(),
                )
                if conn_hook is not None:
                    conn_hook(conn, user_id)
            else:
                user_id = resumed
    except sa.exc.IntegrityError as exc:
        # Two registrations of one name or address at the same moment: the loser's INSERT
        # hits the unique constraint after the winner commits.
        raise AlreadyTaken("That username or e-mail address is already registered.") from exc
    finish_provisioning(database, user, user_id)
    return user_id


def _resumable_registration(
    conn: Connection, database: Database, user: str, email: str, password: str
) -> str | None:
    """The id of this person's own unfinished registration, if that is what this is."""
    row = repo.find_user_by_login(conn, user)
    if row is None or row["email_normalized"] != email.strip().casefold():
        return None
    tenant = get_tenant(conn, user)
    if tenant is not None and tenant.state == "ready":
        return None
    if not hasher().verify(row["password_hash"], password):
        return None
    return str(row["id"])


def provisioner_for(database: Database) -> Provisioner:
    """The engine registration uses; ``pathfinder.provisioner_factory`` in the app's
    extensions replaces it (tests inject faults through it, as other services are injected)."""
    factory = current_app.extensions.get("pathfinder.provisioner_factory", Provisioner)
    return factory(database)


def finish_provisioning(database: Database, user: str, user_id: str) -> None:
    """Provision the user's tables; on failure undo the registration and answer 503."""
    provisioner = provisioner_for(database)
    try:
        provisioner.provision(user)
    except ProvisioningError as exc:
        try:
            Provisioner(database).deprovision(user)
            with database.transaction() as conn:
                repo.delete_user(conn, user_id)
                audit.record(
                    conn,
                    "user_deleted",
                    target_type="user",
                    target_id=user_id,
                    outcome="failure",
                    details={"reason": "registration_rolled_back"},
                )
        except Exception:  # noqa: BLE001 - the retry path finishes what this could not
            current_app.logger.exception("could not undo registration of %s", user_id)
        raise ServiceUnavailable(
            "Your account could not be set up just now; please try again.",
            slug="provisioning-failed",
            headers={"Retry-After": "5"},
        ) from exc


# -- sessions and tokens -----------------------------------------------------------------


def _access_token(user_id: str, username: str, role: str, family_id: str) -> str:
    return create_access_token(
        identity=user_id,
        additional_claims={"type": "access", "sid": family_id, "role": role, "username": username},
        expires_delta=settings().access_token,
    )


def start_session(user_id: str, meta: RequestMeta, *, event: str) -> TokenPair:
    """A new session family with its first refresh token."""
    database = get_database()
    config = settings()
    now = utcnow()
    refresh = new_token()
    family_id = new_id()
    with database.transaction() as conn:
        user = repo.get_user(conn, user_id)
        if user is None:
            raise InvalidCredentials()
        repo.insert_session(
            conn,
            user_id=user_id,
            family_id=family_id,
            refresh_hash=token_hash(refresh),
            expires_at=now + min(config.refresh_token, config.session_absolute),
            now=now,
            ip_address=meta.ip_address,
            user_agent=(meta.user_agent or "")[:500] or None,
        )
        audit.record(
            conn,
            event,
            actor=actor_of(user),
            target_type="session",
            target_id=family_id,
            request_meta=meta.as_audit(),
        )
        access = _access_token(user_id, user["username"], user["role"], family_id)
    return TokenPair(access, refresh, int(config.access_token.total_seconds()), family_id, user_id)


def refresh(refresh_token: str, meta: RequestMeta) -> TokenPair:
    """Rotate a refresh token; a spent token coming back revokes its whole family.

    Spending is a conditional UPDATE (``WHERE revoked_at IS NULL``): of two requests that
    present the same token at once, one rotates and the other is treated as a reuse.
    """
    database = get_database()
    config = settings()
    now = utcnow()
    presented = token_hash(refresh_token)
    rotated: TokenPair | None = None
    with database.transaction() as conn:
        row = repo.session_by_refresh_hash(conn, presented)
        if row is None:
            raise InvalidToken("The refresh token is not valid.")
        user = repo.get_user(conn, row["user_id"])
        live = row["revoked_at"] is None
        if live and (
            row["expires_at"] <= now or user is None or user["account_status"] != "active"
        ):
            raise InvalidToken("The refresh token has expired.")
        if live:
            started = repo.family_started_at(conn, row["family_id"]) or row["created_at"]
            # Refreshing slides the expiry, but never past the absolute lifetime.
            ends = started + config.session_absolute
            if ends <= now:
                raise InvalidToken("The session has reached its maximum lifetime; sign in again.")
        if live and repo.spend_session(conn, row["id"], now):
            new_refresh = new_token()
            new_row_id = repo.insert_session(
                conn,
                user_id=row["user_id"],
                family_id=row["family_id"],
                refresh_hash=token_hash(new_refresh),
                expires_at=min(now + config.refresh_token, ends),
                now=now,
                ip_address=meta.ip_address,
                user_agent=(meta.user_agent or "")[:500] or None,
            )
            repo.link_replacement(conn, row["id"], new_row_id)
            audit.record(
                conn,
                "authn_token_created",
                actor=actor_of(user),
                target_type="session",
                target_id=row["family_id"],
                details={"kind": "rotation"},
                request_meta=meta.as_audit(),
            )
            access = _access_token(user["id"], user["username"], user["role"], row["family_id"])
            rotated = TokenPair(
                access,
                new_refresh,
                int(config.access_token.total_seconds()),
                row["family_id"],
                user["id"],
            )
        elif not live and row["revoked_reason"] != "rotated":
            raise InvalidToken("The session has ended.")
        else:
            # A spent token came back (now, or racing another request): end the family.
            repo.revoke_family(conn, row["family_id"], "reuse_detected", now)
            audit.record(
                conn,
                "authn_token_reuse",
                actor=actor_of(user) if user else None,
                target_type="session",
                target_id=row["family_id"],
                outcome="failure",
                request_meta=meta.as_audit(),
            )
    if rotated is not None:
        return rotated
    raise InvalidToken(
        "This refresh token was already used; the session has been ended for safety.",
        slug="token-reuse",
    )


def revoke_session(principal: Principal, family_id: str, meta: RequestMeta) -> bool:
    """End one of the caller's sessions; False when it is not theirs (callers answer 404)."""
    with get_database().transaction() as conn:
        if not repo.family_belongs_to(conn, family_id, principal.user_id):
            return False
        repo.revoke_family(conn, family_id, "logout", utcnow())
        audit.record(
            conn,
            "session_revoked",
            actor=principal,
            target_type="session",
            target_id=family_id,
            request_meta=meta.as_audit(),
        )
    return True


def list_sessions(principal: Principal) -> list[dict[str, Any]]:
    with get_database().transaction() as conn:
        rows = repo.list_live_sessions(conn, principal.user_id, utcnow())
    return [
        {
            "id": row["family_id"],
            "ip_address": row["ip_address"],
            "user_agent": row["user_agent"],
            "created_at": row["started_at"].isoformat(),
            "last_activity_at": row["last_activity_at"].isoformat()
            if row["last_activity_at"]
            else None,
            "expires_at": row["expires_at"].isoformat(),
            "current": row["family_id"] == principal.session_id,
        }
        for row in rows
    ]


# -- login ---------------------------------------------------------------------------------


def login(login_name: str, password: str, meta: RequestMeta) -> TokenPair | MfaChallenge:
    """Check credentials with lockout; return tokens, or an MFA challenge when enrolled.

    The argon2 check runs outside any transaction, so no lock (a PostgreSQL row lock, or
    SQLite's whole-database write lock) is held for the length of a hash. Its verdict is
    then applied with the user's row locked: the lock state and failure count are read
    again there, so concurrent attempts are counted one by one, exactly
    ``LOCKOUT_THRESHOLD`` wrong passwords lock the account, and no attempt, right or wrong,
    is honoured once it is locked.
    """
    database = get_database()
    config = settings()
    with database.connect() as conn:
        found = repo.find_user_by_login(conn, login_name)
        conn.rollback()
    now = utcnow()
    locked_already = (
        found is not None and found["locked_until"] is not None and found["locked_until"] > now
    )
    # A locked account spends the same time on a dummy hash: timing says nothing.
    password_ok = hasher().verify(
        None if locked_already or found is None else found["password_hash"], password
    )
    failure = False
    user: RowMapping | None = None
    with database.transaction() as conn:
        user = repo.get_user_for_update(conn, found["id"]) if found is not None else None
        now = utcnow()
        if user is None:
            audit.record(
                conn,
                "authn_login_fail",
                outcome="failure",
                details={"reason": "unknown_user"},
                request_meta=meta.as_audit(),
            )
            failure = True
        elif user["locked_until"] is not None and user["locked_until"] > now:
            audit.record(
                conn,
                "authn_login_fail",
                actor=actor_of(user),
                outcome="failure",
                details={"reason": "locked"},
                request_meta=meta.as_audit(),
            )
            failure = True
        elif not password_ok or user["password_hash"] != found["password_hash"]:
            # Wrong, or checked against a hash that changed meanwhile (a reset): a failure.
            _record_failed_password(conn, user, now, config, meta)
            failure = True
        elif user["account_status"] != "active":
            audit.record(
                conn,
                "authn_login_fail",
                actor=actor_of(user),
                outcome="failure",
                details={"reason": f"status_{user['account_status']}"},
                request_meta=meta.as_audit(),
            )
            failure = True
        else:
            changes: dict[str, Any] = {"failed_login_count": 0, "last_failed_login_at": None}
            if user["locked_until"] is not None:
                changes["locked_until"] = None
                audit.record(
                    conn,
                    "authn_login_unlock",
                    actor=actor_of(user),
                    target_type="user",
                    target_id=user["id"],
                    details={"how": "lock_expired"},
                    request_meta=meta.as_audit(),
                )
            repo.update_user(conn, user["id"], **changes)
    if failure or user is None:
        raise InvalidCredentials()
    if hasher().needs_rehash(user["password_hash"]):
        _rehash_password(database, user, password)
    _resume_unfinished_registration(database, user)
    if user["mfa_enabled"]:
        return _issue_mfa_challenge(database, user["id"], config)
    return complete_login(user["id"], meta, method="password")


def issue_mfa_challenge(user_id: str, *, first_factor: str) -> MfaChallenge:
    """The second sign-in step for an account with MFA, after ``first_factor`` succeeded
    (``password``, or ``sso:<provider>`` for a single sign-on)."""
    return _issue_mfa_challenge(get_database(), user_id, settings(), first_factor=first_factor)


def _issue_mfa_challenge(
    database: Database, user_id: str, config: AuthSettings, *, first_factor: str = "password"
) -> MfaChallenge:
    """An MFA token naming a challenge stored (hashed) for single use.

    Without the stored challenge one token could be used again and again for its whole
    lifetime (60 wrong codes, then the right one; two sessions from one token). The token
    names the first factor, so the sign-in it completes is audited as what it was.
    """
    challenge = secrets.token_urlsafe(32)
    now = utcnow()
    with database.transaction() as conn:
        repo.insert_action_token(
            conn,
            user_id=user_id,
            purpose="mfa_challenge",
            token_hash=token_hash(challenge),
            expires_at=now + config.mfa_challenge,
            now=now,
        )
    token = create_access_token(
        identity=user_id,
        additional_claims={"type": "mfa", "challenge": challenge, "first": first_factor},
        expires_delta=config.mfa_challenge,
    )
    return MfaChallenge(token, int(config.mfa_challenge.total_seconds()))


def _rehash_password(database: Database, user: RowMapping, password: str) -> None:
    """Store a hash with today's parameters, computed outside the transaction; kept only
    if the stored hash is still the one just verified (no reset happened meanwhile)."""
    fresh = hasher().hash(password)
    with database.transaction() as conn:
        conn.execute(
            users.update()
            .where(users.c.id == user["id"], users.c.password_hash == user["password_hash"])
            .values(password_hash=fresh)
        )


def complete_login(user_id: str, meta: RequestMeta, *, method: str) -> TokenPair:
    """Record a successful sign-in and open its session."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = repo.get_user(conn, user_id)
        if user is None:
            raise InvalidCredentials()
        repo.update_user(
            conn,
            user_id,
            last_login=now,
            last_activity_at=now,
            total_logins=user["total_logins"] + 1,
        )
        audit.record(
            conn,
            "authn_login_success",
            actor=actor_of(user),
            target_type="user",
            target_id=user_id,
            details={"method": method},
            request_meta=meta.as_audit(),
        )
    return start_session(user_id, meta, event="session_created")


def _record_failed_password(
    conn: Connection,
    user: RowMapping,
    now: datetime,
    config: AuthSettings,
    meta: RequestMeta,
    *,
    reason: str = "bad_password",
) -> None:
    """Count a failed sign-in step (password or second factor) on the locked user row."""
    last = user["last_failed_login_at"]
    count = user["failed_login_count"] if last and now - last <= config.lockout_window else 0
    count += 1
    changes: dict[str, Any] = {"failed_login_count": count, "last_failed_login_at": now}
    audit.record(
        conn,
        "authn_login_fail",
        actor=actor_of(user),
        outcome="failure",
        details={"reason": reason, "failures": count},
        request_meta=meta.as_audit(),
    )
    if count >= config.lockout_threshold:
        changes["locked_until"] = now + config.lockout_duration
        changes["failed_login_count"] = 0
        repo.revoke_user_sessions(conn, user["id"], "account_locked", now)
        audit.record(
            conn,
            "authn_login_lock",
            actor=actor_of(user),
            target_type="user",
            target_id=user["id"],
            outcome="failure",
            details={"until": changes["locked_until"].isoformat(), "failures": count},
            request_meta=meta.as_audit(),
        )
        get_mailer().queue(
            conn,
            Message(
                recipient=user["email"],
                template="account_locked",
                subject="Your Pathfinder account was locked",
                body=(
                    "Several sign-in attempts with a wrong password locked your account "
                    f"until {changes['locked_until']:%Y-%m-%d %H:%M} UTC. If this was not "
                    "you, reset your password."
                ),
            ),
        )
    repo.update_user(conn, user["id"], **changes)


def resume_unfinished_registration(user: RowMapping) -> None:
    """Finish provisioning an account whose registration was cut short (any sign-in does)."""
    _resume_unfinished_registration(get_database(), user)


def _resume_unfinished_registration(database: Database, user: RowMapping) -> None:
    with database.transaction() as conn:
        tenant = get_tenant(conn, user["username"])
    if tenant is None or tenant.state != "ready":
        finish_provisioning(database, user["username"], user["id"])


def decode_mfa_challenge(mfa_token: str) -> tuple[str, str, str]:
    """The user id, challenge and first factor of a valid MFA token (401 otherwise)."""
    try:
        claims = decode_token(mfa_token)
    except Exception as exc:  # noqa: BLE001 - every decode failure is the same answer
        raise InvalidToken("The MFA token is invalid or has expired.") from exc
    if claims.get("type") != "mfa" or not claims.get("challenge"):
        raise InvalidToken("The MFA token is invalid or has expired.")
    return str(claims["sub"]), str(claims["challenge"]), str(claims.get("first") or "password")


def record_failed_attempt(
    conn: Connection, user: RowMapping, meta: RequestMeta, reason: str
) -> None:
    """A failed step (second factor, re-authentication) counts towards the lockout like a
    wrong password."""
    _record_failed_password(conn, user, utcnow(), settings(), meta, reason=reason)
