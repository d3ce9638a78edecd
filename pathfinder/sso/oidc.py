"""Talking to an OpenID Connect provider: discovery, keys, the authorization URL, the code
exchange and the ID token check. Authlib does the protocol; this module adds the caching and
the rules Pathfinder holds the provider to.

* **Discovery** (``<issuer>/.well-known/openid-configuration``) is fetched once and cached
  for ``SSO_METADATA_TTL_SECONDS``; its ``issuer`` must be the configured one exactly
  (OpenID Connect Discovery 4.3), or nothing it says is trusted.
* **Keys** (``jwks_uri``) are cached the same way. A token signed with a key id the cache
  does not hold makes one refetch (the provider rotated its keys), at most once per
  ``SSO_JWKS_MIN_REFRESH_SECONDS`` (the first right away), so tokens with made-up key ids
  cannot turn the application into a flood of requests to the provider.
* **ID tokens** are checked entirely: an asymmetric signature by a key of the provider
  (never ``none``, never an HMAC with the client secret), ``iss``, ``aud`` (and ``azp``),
  ``exp``/``iat`` with ``SSO_CLOCK_SKEW_SECONDS`` of tolerance, the ``nonce`` of this flow,
  and ``at_hash`` when present.
* The code is exchanged with the PKCE verifier (S256) and the client secret; the provider's
  access token is used for nothing else and dropped.

Each provider has one :class:`OidcClient` per process (``app.extensions``), shared by the
threads of a worker under a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from flask import Flask
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from pathfinder.config import ConfigurationError
from pathfinder.sso.settings import ProviderSettings, SsoSettings, check_issuer

# Signatures by the provider's published keys only: no "none", no HS* (a MAC with the client
# secret, which would make anyone holding the secret an issuer).
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
MAX_DOCUMENT_BYTES = 512 * 1024


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered something unusable (not the user's
    fault: the route answers 502)."""


class CodeRejected(Exception):
    """The provider refused to exchange the code (used, expired, or its PKCE verifier
    does not match)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class IdTokenRejected(Exception):
    """The ID token failed a check; ``reason`` names which (for the audit row)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    """What Pathfinder uses of a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_method: str
    # RFC 9207: the provider names itself in the authorization response (mix-up defence).
    iss_parameter_supported: bool


@dataclass(frozen=True)
class Identity:
    """The person a valid ID token names, as Pathfinder uses it."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    picture: str | None
    amr: tuple[str, ...]


def _email_verified(value: Any) -> bool:
    # Some providers send the JSON string "true" rather than the boolean.
    return value is True or (isinstance(value, str) and value.lower() == "true")


class OidcClient:
    """One provider's discovery, key set and protocol calls, cached for this process."""

    def __init__(
        self,
        provider: ProviderSettings,
        settings: SsoSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._forced_at = float("-inf")
        # Counters for operators and tests: how often the provider was asked.
        self.metadata_fetches = 0
        self.jwks_fetches = 0

    # -- HTTP ------------------------------------------------------------------------------

    def _get_json(self, url: str) -> Mapping[str, Any]:
        try:
            response = requests.get(
                url,
                timeout=self.settings.http_timeout_seconds,
                allow_redirects=False,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{self.provider.name}: {type(exc).__name__}") from exc
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailable(f"{self.provider.name}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{self.provider.name}: not JSON") from exc
        if not isinstance(document, Mapping):
            raise ProviderUnavailable(f"{self.provider.name}: not a JSON object")
        return document

    # -- discovery and keys -----------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, from the cache while it is fresh."""
        with self._lock:
            now = self._clock()
            if self._metadata and now - self._metadata_at < self.settings.metadata_ttl_seconds:
                return self._metadata
        document = self._get_json(
            self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        metadata = self._parse_metadata(document)
        with self._lock:
            self._metadata, self._metadata_at = metadata, self._clock()
            self.metadata_fetches += 1
        return metadata

    def _parse_metadata(self, document: Mapping[str, Any]) -> ProviderMetadata:
        name = self.provider.name
        if document.get("issuer") != self.provider.issuer:
            raise ProviderUnavailable(f"{name}: the discovery document names another issuer")
        try:
            endpoints = [
                check_issuer(name, str(document[key]))
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            ]
        except (KeyError, ConfigurationError) as exc:
            raise ProviderUnavailable(f"{name}: the discovery document lacks an endpoint") from exc
        offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ASYMMETRIC_ALGORITHMS if a in offered)
        if not algorithms:
            raise ProviderUnavailable(f"{name}: no asymmetric ID token signature is offered")
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        return ProviderMetadata(
            issuer=self.provider.issuer,
            authorization_endpoint=endpoints[0],
            token_endpoint=endpoints[1],
            jwks_uri=endpoints[2],
            algorithms=algorithms,
            token_auth_method=auth,
            iss_parameter_supported=bool(
                document.get("authorization_response_iss_parameter_supported")
            ),
        )

    def key_set(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys: cached; ``refresh`` refetches (rate-limited)."""
        with self._lock:
            now = self._clock()
            fresh = now - self._keys_at < self.settings.metadata_ttl_seconds
            # Refetches asked for by unknown key ids are spaced out; the first one after
            # a rotation goes through at once.
            spaced = now - self._forced_at < self.settings.jwks_min_refresh_seconds
            if self._keys is not None and fresh and (not refresh or spaced):
                return self._keys
            if refresh:
                self._forced_at = now
        document = self._get_json(self.metadata().jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailable(f"{self.provider.name}: unusable key set") from exc
        with self._lock:
            self._keys, self._keys_at = keys, self._clock()
            self.jwks_fetches += 1
        return keys

    # -- the protocol ----------------------------------------------------------------------

    def _session(self, redirect_uri: str, metadata: ProviderMetadata) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret,
            scope=" ".join(self.provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=metadata.token_auth_method,
        )

    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        """Where to send the browser: the provider's sign-in with PKCE (S256) and a nonce."""
        metadata = self.metadata()
        with self._session(redirect_uri, metadata) as session:
            url, _state = session.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return str(url)

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code (and the PKCE verifier) for the provider's tokens."""
        metadata = self.metadata()
        try:
            with self._session(redirect_uri, metadata) as session:
                token = session.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    timeout=self.settings.http_timeout_seconds,
                    allow_redirects=False,
                )
        except OAuthError as exc:
            raise CodeRejected(str(exc.error or "invalid_grant")) from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"{self.provider.name}: token endpoint failed") from exc
        if not isinstance(token.get("id_token"), str):
            raise IdTokenRejected("missing_id_token")
        return dict(token)

    def _decode(self, id_token: str, metadata: ProviderMetadata, keys: KeySet) -> jwt.Token:
        return jwt.decode(
            id_token,
            key=keys,
            registry=JWSRegistry(algorithms=list(metadata.algorithms)),
        )

    def validate_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None, now: float | None = None
    ) -> Identity:
        """Check an ID token completely (see the module docstring); the person it names."""
        metadata = self.metadata()
        try:
            try:
                token = self._decode(id_token, metadata, self.key_set())
            except InvalidKeyIdError:
                # Signed with a key this process has not seen: the provider rotated.
                token = self._decode(id_token, metadata, self.key_set(refresh=True))
        except InvalidKeyIdError as exc:
            raise IdTokenRejected("unknown_signing_key") from exc
        except JoseError as exc:
            raise IdTokenRejected(f"signature:{exc.error}") from exc
        except ValueError as exc:
            raise IdTokenRejected("malformed") from exc
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": self.provider.issuer},
                "aud": {"essential": True, "value": self.provider.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "nonce": {"essential": True},
            },
            {"nonce": nonce, "client_id": self.provider.client_id, "access_token": access_token},
        )
        try:
            claims.validate(now=int(now if now is not None else self._clock()), leeway=self._skew)
        except JoseError as exc:
            raise IdTokenRejected(f"claims:{exc.error}:{getattr(exc, 'claim', '')}") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise IdTokenRejected("claims:invalid_sub")
        email = claims.get("email")
        amr = claims.get("amr") or []
        return Identity(
            issuer=self.provider.issuer,
            subject=subject,
            email=email if isinstance(email, str) and len(email) <= 254 else None,
            email_verified=_email_verified(claims.get("email_verified")),
            name=_text(claims.get("name"), 200),
            picture=_text(claims.get("picture"), 1000),
            amr=tuple(str(a) for a in amr if isinstance(a, str)),
        )

    @property
    def _skew(self) -> int:
        return self.settings.clock_skew_seconds


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def oidc_client(app: Flask, provider: ProviderSettings, settings: SsoSettings) -> OidcClient:
    """The process's client for ``provider`` (made on first use, kept in the app)."""
    clients: dict[str, OidcClient] = app.extensions.setdefault("pathfinder.sso.clients", {})
    client = clients.get(provider.name)
    if client is None or client.provider != provider:
        client = OidcClient(provider, settings)
        clients[provider.name] = client
    return client
