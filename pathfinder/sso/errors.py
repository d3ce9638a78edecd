"""Single sign-on problems, each a stable problem+json type.

A failed callback tells the client which step failed (the state, the provider's answer, the
code, the ID token) but never why in detail: the reason is in the audit row, so a probing
client learns nothing about the checks it did not pass.
"""

from __future__ import annotations

from pathfinder.api.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized


class SsoProviderUnknown(NotFound):
    slug = "sso-provider-unknown"
    title = "No such sign-in provider"

    def __init__(self) -> None:
        super().__init__("No single sign-on provider of that name is configured.")


class SsoNotConfigured(Problem):
    status = 503
    slug = "sso-not-configured"
    title = "Single sign-on is misconfigured"

    def __init__(self) -> None:
        super().__init__("Single sign-on is not set up correctly on this server; it is logged.")


class SsoProviderUnavailable(Problem):
    status = 502
    slug = "sso-provider-unavailable"
    title = "The sign-in provider did not answer as expected"

    def __init__(self) -> None:
        super().__init__(
            "The sign-in provider could not be reached or answered something unusable; "
            "try again later.",
            headers={"Retry-After": "30"},
        )


class SsoStateInvalid(Problem):
    status = 400
    slug = "sso-state-invalid"
    title = "The sign-in flow is not valid"

    def __init__(self) -> None:
        super().__init__(
            "This sign-in is unknown, expired, already used, or was started in another "
            "browser; start again."
        )


class SsoDenied(Problem):
    status = 400
    slug = "sso-denied"
    title = "The sign-in provider did not sign you in"


class SsoCodeRejected(Problem):
    status = 400
    slug = "sso-code-rejected"
    title = "The sign-in provider refused the authorization code"

    def __init__(self) -> None:
        super().__init__("The authorization code is used, expired or not for this sign-in.")


class SsoIdTokenInvalid(Unauthorized):
    slug = "sso-id-token-invalid"
    title = "The sign-in provider's ID token is not valid"

    def __init__(self) -> None:
        super().__init__("The identity the provider sent could not be verified; start again.")


class SsoSignInRefused(Unauthorized):
    slug = "sso-sign-in-refused"
    title = "This account cannot sign in"

    def __init__(self) -> None:
        super().__init__("The linked account is locked, suspended or cannot sign in now.")


class SsoAlreadyLinked(Conflict):
    slug = "sso-already-linked"
    title = "This identity is already linked to your account"


class SsoIdentityInUse(Conflict):
    slug = "sso-identity-in-use"
    title = "This identity is linked to another account"


class SsoLastSignInMethod(Conflict):
    slug = "sso-last-sign-in-method"
    title = "The last way to sign in cannot be removed"

    def __init__(self) -> None:
        super().__init__(
            "This is the only way to sign in to the account: set a password or link another "
            "provider first."
        )


class SsoEmailUnverified(Forbidden):
    slug = "sso-email-unverified"
    title = "The provider has not verified this e-mail address"

    def __init__(self) -> None:
        super().__init__(
            "The sign-in provider does not vouch for the e-mail address, so an account cannot "
            "be created from it; register with an invitation or a password."
        )


class SsoReauthenticationRequired(Forbidden):
    slug = "reauthentication-required"
    title = "Sign in again before this change"

    def __init__(self) -> None:
        super().__init__(
            "Linking a provider needs the current password, or, for an account without one, "
            "a sign-in within the last few minutes."
        )
