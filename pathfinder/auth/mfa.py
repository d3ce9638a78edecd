"""TOTP multi-factor authentication: enrol, confirm, verify at login, disable, recovery codes.

The TOTP seed is stored only as an encrypted field token (the user's data key), a code's
time-step is remembered so it cannot be replayed, and recovery codes are stored hashed and
spent with a conditional UPDATE so each works once even under concurrent use.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathfinder import audit
from pathfinder.auth import repo
from pathfinder.auth.errors import (
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    MfaStateProblem,
    ReauthenticationFailed,
)
from pathfinder.auth.principal import Principal
from pathfinder.auth.service import (
    RequestMeta,
    TokenPair,
    complete_login,
    decode_mfa_challenge,
    hasher,
    record_failed_attempt,
    settings,
    utcnow,
)
from pathfinder.db import get_database
from pathfinder.security import field_secrets, totp
from pathfinder.security.tokens import new_recovery_code, normalise_recovery_code, token_hash


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def reauthenticate(principal: Principal, password: str, meta: RequestMeta) -> str:
    """Check the caller's current password outside any transaction; return the hash seen.

    A wrong one counts towards the lockout like a failed sign-in and answers 403.
    """
    return _reauthenticate(principal, password, meta)


def _reauthenticate(principal: Principal, password: str, meta: RequestMeta) -> str:
    """See :func:`reauthenticate`."""
    with get_database().connect() as conn:
        user = repo.get_user(conn, principal.user_id)
        conn.rollback()
    if user is None:
        raise InvalidCredentials()
    if hasher().verify(user["password_hash"], password):
        return str(user["password_hash"])
    with get_database().transaction() as conn:
        locked = repo.get_user_for_update(conn, principal.user_id)
        if locked is not None:
            record_failed_attempt(conn, locked, meta, "bad_password_reauth")
    raise ReauthenticationFailed()


def start_enrolment(principal: Principal, password: str, meta: RequestMeta) -> Enrolment:
    """Generate a seed and keep it (encrypted) pending confirmation; shown to the user once.

    Needs the current password: with an access token alone, enrolling a factor the owner
    never set up would end their other sessions and keep them out of their account.
    """
    checked_hash = reauthenticate(principal, password, meta)
    secret = totp.new_secret()
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None or user["password_hash"] != checked_hash:
            raise ReauthenticationFailed()
        if user["mfa_enabled"]:
            raise MfaStateProblem("MFA is already enabled; disable it first to enrol again.")
        sealed = field_secrets.reseal_user(conn, user, {"mfa_secret": secret})
        repo.update_user(
            conn, principal.user_id, **sealed, mfa_last_timestep=None, updated_at=utcnow()
        )
    return Enrolment(secret, totp.provisioning_uri(secret, principal.username))


def confirm_enrolment(principal: Principal, code: str, meta: RequestMeta) -> list[str]:
    """Turn MFA on with a first valid code; return ten fresh recovery codes (shown once)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None or user["mfa_enabled"] or not user["mfa_secret"]:
            raise MfaStateProblem("Start an enrolment first.")
        secret = field_secrets.open_mfa_secret(conn, user)
        step = totp.matching_timestep(secret, code, last_timestep=user["mfa_last_timestep"])
        if step is None:
            raise InvalidCode("That code is not valid.")
        codes = [new_recovery_code() for _ in range(settings().recovery_code_count)]
        repo.replace_recovery_codes(conn, principal.user_id, [token_hash(c) for c in codes], now)
        repo.update_user(
            conn, principal.user_id, mfa_enabled=True, mfa_last_timestep=step, updated_at=now
        )
        repo.revoke_user_sessions(
            conn, principal.user_id, "mfa_changed", now, except_family=principal.session_id
        )
        audit.record(
            conn,
            "authn_mfa_enabled",
            actor=principal,
            target_type="user",
            target_id=principal.user_id,
            request_meta=meta.as_audit(),
        )
    return codes


def disable(principal: Principal, password: str, code: str, meta: RequestMeta) -> None:
    """Turn MFA off; needs the password and a current TOTP or recovery code."""
    now = utcnow()
    failed = False
    with get_database().connect() as conn:
        seen = repo.get_user(conn, principal.user_id)
        conn.rollback()
    # The hash is checked before the transaction: no row lock is held for its length.
    password_ok = seen is not None and hasher().verify(seen["password_hash"], password)
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None or not user["mfa_enabled"]:
            raise MfaStateProblem("MFA is not enabled.")
        if not password_ok or seen is None or user["password_hash"] != seen["password_hash"]:
            failed = True
        elif not _check_second_factor(conn, user, code, now):
            failed = True
        else:
            repo.update_user(
                conn,
                principal.user_id,
                **field_secrets.reseal_user(conn, user, {"mfa_secret": None}),
                mfa_enabled=False,
                mfa_last_timestep=None,
                updated_at=now,
            )
            repo.delete_recovery_codes(conn, principal.user_id)
            audit.record(
                conn,
                "authn_mfa_disabled",
                actor=principal,
                target_type="user",
                target_id=principal.user_id,
                request_meta=meta.as_audit(),
            )
    if failed:
        raise InvalidCode("The password or the code is not valid.")


def regenerate_recovery_codes(principal: Principal, code: str, meta: RequestMeta) -> list[str]:
    """Replace the recovery codes (needs a current TOTP code)."""
    now = utcnow()
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, principal.user_id)
        if user is None or not user["mfa_enabled"]:
            raise MfaStateProblem("MFA is not enabled.")
        secret = field_secrets.open_mfa_secret(conn, user)
        step = totp.matching_timestep(secret, code, last_timestep=user["mfa_last_timestep"])
        if step is None:
            raise InvalidCode("That code is not valid.")
        codes = [new_recovery_code() for _ in range(settings().recovery_code_count)]
        repo.replace_recovery_codes(conn, principal.user_id, [token_hash(c) for c in codes], now)
        repo.update_user(conn, principal.user_id, mfa_last_timestep=step, updated_at=now)
        audit.record(
            conn,
            "authn_mfa_enabled",
            actor=principal,
            target_type="user",
            target_id=principal.user_id,
            details={"action": "recovery_codes_regenerated"},
            request_meta=meta.as_audit(),
        )
    return codes


def verify_login(
    mfa_token: str, code: str | None, recovery_code: str | None, meta: RequestMeta
) -> TokenPair:
    """The second login step: a TOTP code or a recovery code for the challenged user.

    The challenge is spent by the first success, so one MFA token gives one session; every
    wrong code counts towards the account's lockout, like a wrong password, and a locked
    account's challenge is refused.
    """
    user_id, challenge, first_factor = decode_mfa_challenge(mfa_token)
    now = utcnow()
    accepted = False
    method = "totp" if code else "recovery_code"
    with get_database().transaction() as conn:
        user = repo.get_user_for_update(conn, user_id)
        if user is None or not user["mfa_enabled"] or user["account_status"] != "active":
            raise InvalidCredentials()
        if not repo.live_action_token(conn, "mfa_challenge", token_hash(challenge), user_id, now):
            raise InvalidToken("The MFA token is invalid, expired or already used.")
        if user["locked_until"] is not None and user["locked_until"] > now:
            raise InvalidCredentials()
        if code:
            accepted = _check_totp(conn, user, code)
        elif recovery_code:
            accepted = repo.spend_recovery_code(
                conn, user_id, token_hash(normalise_recovery_code(recovery_code)), now
            )
        if accepted:
            if repo.spend_action_token(conn, "mfa_challenge", token_hash(challenge), now) is None:
                raise InvalidToken("The MFA token is invalid, expired or already used.")
        else:
            record_failed_attempt(conn, user, meta, f"bad_{method}")
    if not accepted:
        raise InvalidCode("That code is not valid or was already used.")
    return complete_login(user_id, meta, method=f"{first_factor}+{method}")


def _check_totp(conn, user, code: str) -> bool:  # type: ignore[no-untyped-def]
    secret = field_secrets.open_mfa_secret(conn, user)
    step = totp.matching_timestep(secret, code, last_timestep=user["mfa_last_timestep"])
    if step is None:
        return False
    repo.update_user(conn, user["id"], mfa_last_timestep=step)
    return True


def _check_second_factor(conn, user, code: str, now) -> bool:  # type: ignore[no-untyped-def]
    if _check_totp(conn, user, code):
        return True
    return repo.spend_recovery_code(
        conn, user["id"], token_hash(normalise_recovery_code(code)), now
    )
