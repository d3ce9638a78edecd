"""Which OpenID Connect providers exist, and the settings of the sign-on flows.

``SSO_PROVIDERS`` (``PATHFINDER_SSO_PROVIDERS``) is a JSON object naming each provider::

    {"google": {"issuer": "https://accounts.google.com",
                "client_id": "...apps.googleusercontent.com",
                "scopes": ["openid", "email", "profile"], "display_name": "Google"}}

A provider's client secret is a secret, so it is never in that object: it is the setting
``SSO_CLIENT_SECRET_<NAME>`` (``PATHFINDER_SSO_CLIENT_SECRET_GOOGLE``), kept with the other
secrets. A name becomes part of the routes (``/auth/sso/<name>/...``) and of the stored
links, so it is checked here: lower case, a letter first, at most 20 characters.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pathfinder.config import ConfigurationError

SSO_DEFAULTS: dict[str, Any] = {
    # JSON object {name: {issuer, client_id, scopes?, display_name?, trust_mfa?, mfa_amr?,
    # redirect_uri?}}; unset: no provider, every /auth/sso route answers 404.
    "SSO_PROVIDERS": None,
    # Where the provider sends the browser back: <base>/api/v1/auth/sso/<name>/callback
    # unless a provider names its own redirect_uri. None: PUBLIC_BASE_URL.
    "SSO_CALLBACK_BASE_URL": None,
    # How long a started flow (its state) may be completed, and a registration after it.
    "SSO_FLOW_MINUTES": 10,
    # Clock difference tolerated when checking an ID token's exp/iat.
    "SSO_CLOCK_SKEW_SECONDS": 60,
    # Discovery documents and key sets are cached this long; an unknown key id refetches
    # the key set, at most once per SSO_JWKS_MIN_REFRESH_SECONDS.
    "SSO_METADATA_TTL_SECONDS": 3600,
    "SSO_JWKS_MIN_REFRESH_SECONDS": 10,
    "SSO_HTTP_TIMEOUT_SECONDS": 10,
    # Linking needs the password; an account without one must have signed in this recently.
    "SSO_REAUTH_MINUTES": 10,
}

PROVIDER_NAME_MAX_LENGTH = 20
PROVIDER_NAME = re.compile(f"^[a-z][a-z0-9-]{{0,{PROVIDER_NAME_MAX_LENGTH - 1}}}$")
DEFAULT_SCOPES = ("openid", "email", "profile")
# RFC 8176 "mfa": the provider says more than one factor was used.
DEFAULT_MFA_AMR = ("mfa",)
LOOPBACK_HOSTS = ("localhost",)


@dataclass(frozen=True)
class ProviderSettings:
    """One configured OpenID Connect provider."""

    name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    display_name: str
    # Skip Pathfinder's own second factor when the provider asserts one of mfa_amr.
    trust_mfa: bool
    mfa_amr: tuple[str, ...]
    redirect_uri: str | None


@dataclass(frozen=True)
class SsoSettings:
    providers: Mapping[str, ProviderSettings]
    callback_base_url: str
    flow_lifetime: timedelta
    clock_skew_seconds: int
    metadata_ttl_seconds: float
    jwks_min_refresh_seconds: float
    http_timeout_seconds: float
    reauth_window: timedelta

    def redirect_uri(self, provider: ProviderSettings) -> str:
        """Where ``provider`` sends the browser back; registered with the provider as is."""
        if provider.redirect_uri:
            return provider.redirect_uri
        return f"{self.callback_base_url}/api/v1/auth/sso/{provider.name}/callback"


def secret_setting(name: str) -> str:
    """The setting holding a provider's client secret: ``SSO_CLIENT_SECRET_<NAME>``."""
    return "SSO_CLIENT_SECRET_" + name.upper().replace("-", "_")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(name: str, issuer: str) -> str:
    """An issuer is an https URL (plain http only on a loopback address, for tests)."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        if parts.query or parts.fragment or not parts.hostname:
            raise ConfigurationError(f"SSO provider {name}: issuer must be a plain URL")
        return issuer
    raise ConfigurationError(f"SSO provider {name}: issuer must be an https URL")


def _provider(name: str, entry: Any, config: Mapping[str, Any]) -> ProviderSettings:
    if not PROVIDER_NAME.fullmatch(name):
        raise ConfigurationError(
            f"SSO provider name {name!r}: lower case letters, digits and '-', a letter first, "
            "at most 20 characters"
        )
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"SSO provider {name}: expected an object")
    if "client_secret" in entry:
        raise ConfigurationError(f"SSO provider {name}: put the secret in {secret_setting(name)}")
    unknown = set(entry) - {
        "issuer",
        "client_id",
        "scopes",
        "display_name",
        "trust_mfa",
        "mfa_amr",
        "redirect_uri",
    }
    if unknown:
        raise ConfigurationError(f"SSO provider {name}: unknown keys {sorted(unknown)}")
    issuer = entry.get("issuer")
    client_id = entry.get("client_id")
    if not isinstance(issuer, str) or not isinstance(client_id, str) or not client_id:
        raise ConfigurationError(f"SSO provider {name}: issuer and client_id are required")
    secret = config.get(secret_setting(name))
    if not secret:
        raise ConfigurationError(
            f"SSO provider {name}: its client secret PATHFINDER_{secret_setting(name)} is not set"
        )
    scopes = tuple(entry.get("scopes") or DEFAULT_SCOPES)
    if "openid" not in scopes or not all(isinstance(s, str) and s for s in scopes):
        raise ConfigurationError(f"SSO provider {name}: scopes must include 'openid'")
    return ProviderSettings(
        name=name,
        issuer=check_issuer(name, issuer),
        client_id=client_id,
        client_secret=str(secret),
        scopes=scopes,
        display_name=str(entry.get("display_name") or name),
        trust_mfa=bool(entry.get("trust_mfa", False)),
        mfa_amr=tuple(entry.get("mfa_amr") or DEFAULT_MFA_AMR),
        redirect_uri=entry.get("redirect_uri"),
    )


def load_sso_settings(config: Mapping[str, Any]) -> SsoSettings:
    """The SSO settings of a Flask config; a wrong provider entry is a ConfigurationError."""

    def get(key: str) -> Any:
        value = config.get(key)
        return SSO_DEFAULTS[key] if value is None else value

    raw = get("SSO_PROVIDERS") or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError("PATHFINDER_SSO_PROVIDERS is not JSON") from exc
    if not isinstance(raw, Mapping):
        raise ConfigurationError("PATHFINDER_SSO_PROVIDERS must be a JSON object")
    providers = {name: _provider(name, entry, config) for name, entry in raw.items()}
    base = get("SSO_CALLBACK_BASE_URL") or config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    return SsoSettings(
        providers=providers,
        callback_base_url=str(base).rstrip("/"),
        flow_lifetime=timedelta(minutes=float(get("SSO_FLOW_MINUTES"))),
        clock_skew_seconds=int(get("SSO_CLOCK_SKEW_SECONDS")),
        metadata_ttl_seconds=float(get("SSO_METADATA_TTL_SECONDS")),
        jwks_min_refresh_seconds=float(get("SSO_JWKS_MIN_REFRESH_SECONDS")),
        http_timeout_seconds=float(get("SSO_HTTP_TIMEOUT_SECONDS")),
        reauth_window=timedelta(minutes=float(get("SSO_REAUTH_MINUTES"))),
    )
