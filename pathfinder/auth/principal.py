"""Who is calling: set on ``flask.g.principal`` by the auth guard for authenticated routes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context

ROLES = ("user", "admin", "site_admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of this request."""

    user_id: str
    username: str
    role: str
    session_id: str
    mfa_enabled: bool = False

    def has_role(self, required: str) -> bool:
        """``user`` < ``admin`` < ``site_admin``: a higher role has every lower role's rights."""
        return ROLE_RANK[self.role] >= ROLE_RANK[required]


def current_principal() -> Principal | None:
    """The caller of the current request, or None (anonymous, or outside a request)."""
    if not has_request_context():
        return None
    return g.get("principal")
