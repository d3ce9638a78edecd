"""The closed vocabulary of audit events.

Names are taken from the OWASP Application Logging Vocabulary where it has one, so alerting
can key on them; Pathfinder's own names follow the same ``<area>_<what>`` style. An unknown
name is a programming error and ``record`` raises rather than writing a row nobody will
ever search for.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_OWASP: dict[str, str] = {
    # Authentication
    "authn_login_success": "a login succeeded",
    "authn_login_successafterfail": "a login succeeded after failed attempts",
    "authn_login_fail": "a login failed (unknown user, wrong password or code, locked)",
    "authn_login_fail_max": "a login failed and reached the failure limit",
    "authn_login_lock": "an account was locked (too many failures, suspicion, request)",
    "authn_password_change": "a password was changed (outcome failure: attempt refused)",
    "authn_password_change_fail": "a password change failed",
    "authn_impossible_travel": "logins from places too far apart in the time between",
    "authn_token_created": "a token was issued (refresh rotation, API token)",
    "authn_token_revoked": "a token was revoked",
    "authn_token_reuse": "a spent or revoked token was presented again",
    "authn_token_delete": "a token was deleted",
    # Authorisation
    "authz_fail": "access to a resource was refused",
    "authz_change": "a user's role or entitlements changed",
    "authz_admin": "an action by a privileged user",
    # Cryptography
    "crypt_decrypt_fail": "a value could not be decrypted",
    "crypt_encrypt_fail": "a value could not be encrypted",
    # Excessive use
    "excess_rate_limit_exceeded": "a rate limit was exceeded",
    # Uploads
    "upload_complete": "an upload completed",
    "upload_stored": "an upload was stored",
    "upload_validation": "an upload was validated (outcome says how)",
    "upload_delete": "an upload was deleted",
    # Input
    "input_validation_fail": "server-side validation refused input",
    "input_validation_discrete_fail": "a value outside a fixed list of choices was sent",
    # Malicious behaviour
    "malicious_excess_404": "many requests for things that do not exist",
    "malicious_extraneous": "unexpected input fields were sent",
    "malicious_attack_tool": "an attack tool was recognised",
    "malicious_cors": "a request from a forbidden origin",
    "malicious_direct_reference": "a direct reference to another user's object",
    # Privilege and sensitive data
    "privilege_permissions_changed": "permissions on an object changed",
    "sensitive_create": "sensitive data was created",
    "sensitive_read": "sensitive data was read",
    "sensitive_update": "sensitive data was updated",
    "sensitive_delete": "sensitive data was deleted",
    "sequence_fail": "a step of a flow was reached out of order",
    # Sessions
    "session_created": "a session started",
    "session_renewed": "a session was extended",
    "session_expired": "a session ended (logout, timeout, revocation)",
    "session_use_after_expire": "an ended session was used",
    # System
    "sys_startup": "the system started",
    "sys_shutdown": "the system stopped",
    "sys_restart": "the system restarted",
    "sys_crash": "the system crashed",
    "sys_monitor_disabled": "a monitor was disabled",
    "sys_monitor_enabled": "a monitor was enabled",
    # Users
    "user_created": "an account was created",
    "user_updated": "an account was changed",
    "user_archived": "an account was archived",
    "user_deleted": "an account was deleted",
}

# Pathfinder's own names, in the same <area>_<what> style, for events the vocabulary lacks.
_PATHFINDER: dict[str, str] = {
    "authn_login_unlock": "a locked account was unlocked (lock expired or by an admin)",
    "authn_password_reset_request": "a password reset was requested",
    "authn_password_reset": "a password was reset with a reset link",
    "authn_mfa_enabled": "MFA was enabled or its recovery codes regenerated",
    "authn_mfa_disabled": "MFA was disabled",
    "authn_email_verified": "an email address was verified",
    "authn_sso_linked": "a single sign-on identity was linked to an account (or refused)",
    "authn_sso_unlinked": "a single sign-on identity was unlinked from an account",
    "user_suspended": "an account was suspended",
    "user_reactivated": "a suspended account was reactivated",
    "user_deletion_requested": "an account deletion was scheduled or cancelled (details.action)",
    "user_invited": "an invitation to register was issued",
    "session_revoked": "a session (family of refresh tokens) was revoked",
    "crypt_key_rotated": "a key was rotated (KEK re-wrap or data-key rotation)",
    "crypt_key_destroyed": "a user's data keys were destroyed (crypto-shredding)",
    "data_export": "a user's data was exported",
    "data_import": "data was imported",
    "sys_config_changed": "a system setting or feature flag changed",
    "sys_job_run": "a scheduled job ran",
    "sys_dba_action": "a DBA command ran (provisioning, migration, key rotation, a job)",
    "tenant_provisioned": "a user's tables were created or migrated",
    "tenant_deprovisioned": "a user's tables were dropped",
    "audit_pseudonymised": "a deleted user's audit rows were pseudonymised",
    "audit_archived": "sealed audit rows were copied to an archive file (range in details)",
    "request": "an API request (written by the request middleware)",
}

EVENTS: Mapping[str, str] = MappingProxyType({**_OWASP, **_PATHFINDER})
"""Every event name ``record`` accepts, with what it means."""

OWASP_EVENTS = frozenset(_OWASP)


class UnknownAuditEvent(ValueError):
    """``record`` was given an event name outside :data:`EVENTS`."""
