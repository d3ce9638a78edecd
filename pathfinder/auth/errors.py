"""Identity problems, each a stable problem+json type."""

from __future__ import annotations

from pathfinder.api.errors import Conflict, Forbidden, Problem, Unauthorized


class InvalidCredentials(Unauthorized):
    """One answer for unknown user, wrong password, locked or inactive account."""

    slug = "invalid-credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        super().__init__("The login or password is incorrect, or the account cannot sign in.")


class InvalidToken(Unauthorized):
    slug = "invalid-token"
    title = "Invalid or expired token"


class InvalidCode(Problem):
    status = 401
    slug = "invalid-code"
    title = "Invalid or already used code"


class RegistrationClosed(Forbidden):
    slug = "registration-closed"
    title = "Registration is by invitation only"


class AlreadyTaken(Conflict):
    slug = "already-taken"
    title = "Already taken"


class WeakPasswordProblem(Problem):
    status = 422
    slug = "weak-password"
    title = "The password does not meet the policy"


class LastSiteAdmin(Conflict):
    slug = "last-site-admin"
    title = "The last site admin cannot be removed"


class MfaStateProblem(Conflict):
    slug = "mfa-state"
    title = "MFA is not in the state this action needs"


class ReauthenticationFailed(Forbidden):
    """A sensitive change needs the current password, and the one given is wrong."""

    slug = "reauthentication-failed"
    title = "The current password is needed for this change"

    def __init__(self) -> None:
        super().__init__("The current password given is not correct.")
