"""A flow's state, nonce and PKCE verifier: made at the start, spent once at the callback.

The ``state`` is 256 random bits that travel in the redirect. The database keeps only its
SHA-256 (``pf_sso_flows.state_hash``); the PKCE verifier and the nonce are HMACs of the
state under a key derived from ``JWT_SECRET_KEY``, computed again at the callback. A copy of
the table therefore redeems nothing, and the state alone (seen in a URL, a log) does not
give the verifier.

A flow is also bound to the browser that started it: the start answer sets an HttpOnly
cookie (``pf_sso_binding``) whose SHA-256 the row keeps, and the callback must present the
same cookie. A victim lured onto a callback URL carrying the attacker's code and state
(login CSRF: being signed in as the attacker) does not have it. The cookie is reused by
later flows of the same browser, so two tabs can sign in at once.

The callback spends the row with a conditional UPDATE, so a state (and the code that came
with it) is good once, even when two requests race.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Connection, RowMapping

from pathfinder.ids import new_id
from pathfinder.schema.shared.identity import sso_flows
from pathfinder.security.secrets import resolve_secret
from pathfinder.security.tokens import token_hash

BINDING_COOKIE = "pf_sso_binding"
COOKIE_PATH = "/api/v1/auth/sso"
# base64url of 32 random bytes: what this module makes; anything else is ignored.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
FLOW_KEY_LABEL = b"pathfinder sso flow key v1"


class FlowInvalid(Exception):
    """The state is unknown, expired, already used, for another provider or from another
    browser; ``reason`` says which, for the audit row only (the client gets one answer)."""

    def __init__(self, reason: str, flow: RowMapping | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.flow = flow


@dataclass(frozen=True)
class FlowSecrets:
    """What the authorization request carries, all derived from the state."""

    state: str
    nonce: str
    code_verifier: str


def _flow_key() -> bytes:
    secret = resolve_secret(current_app.config, "JWT_SECRET_KEY")
    return hmac.new(secret.encode(), FLOW_KEY_LABEL, hashlib.sha256).digest()


def _derive(state: str, label: bytes) -> str:
    mac = hmac.new(_flow_key(), label + b"\x00" + state.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def secrets_of(state: str) -> FlowSecrets:
    """The nonce and PKCE verifier (43 characters, RFC 7636 4.1) of a state."""
    return FlowSecrets(state, _derive(state, b"nonce"), _derive(state, b"pkce-verifier"))


def browser_binding(presented: str | None) -> str:
    """The binding cookie value to use: the browser's own when well formed, else a new one."""
    if presented and TOKEN_SHAPE.fullmatch(presented):
        return presented
    return secrets.token_urlsafe(32)


def start_flow(
    conn: Connection,
    *,
    provider: str,
    purpose: str,
    user_id: str | None,
    binding: str,
    now: datetime,
    lifetime: timedelta,
) -> FlowSecrets:
    """Record a new flow and return its state, nonce and verifier."""
    # Flows are short-lived: clear those long expired as new ones start (indexed).
    conn.execute(sso_flows.delete().where(sso_flows.c.expires_at < now - timedelta(days=1)))
    state = secrets.token_urlsafe(32)
    conn.execute(
        sso_flows.insert().values(
            id=new_id(),
            state_hash=token_hash(state),
            binding_hash=token_hash(binding),
            provider=provider,
            purpose=purpose,
            user_id=user_id,
            expires_at=now + lifetime,
            created_at=now,
        )
    )
    return secrets_of(state)


def spend_flow(
    conn: Connection, *, state: str, binding: str | None, provider: str, now: datetime
) -> RowMapping:
    """Spend the flow of ``state`` once; :class:`FlowInvalid` when it cannot be used."""
    if not state or len(state) > 200:
        raise FlowInvalid("malformed_state")
    row = (
        conn.execute(sa.select(sso_flows).where(sso_flows.c.state_hash == token_hash(state)))
        .mappings()
        .first()
    )
    if row is None:
        raise FlowInvalid("unknown_state")
    if row["provider"] != provider:
        raise FlowInvalid("other_provider", row)
    if row["used_at"] is not None:
        raise FlowInvalid("state_reused", row)
    if row["expires_at"] <= now:
        raise FlowInvalid("state_expired", row)
    if binding is None or not hmac.compare_digest(row["binding_hash"], token_hash(binding)):
        raise FlowInvalid("other_browser", row)
    spent = conn.execute(
        sso_flows.update()
        .where(sso_flows.c.id == row["id"], sso_flows.c.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise FlowInvalid("state_reused", row)
    return row


def claim_registration(conn: Connection, flow_id: str, now: datetime) -> bool:
    """Let one registration come from a flow; False when one already did."""
    result = conn.execute(
        sso_flows.update()
        .where(sso_flows.c.id == flow_id, sso_flows.c.registered_at.is_(None))
        .values(registered_at=now)
    )
    return result.rowcount == 1
