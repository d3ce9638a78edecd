"""Reading SSO_PROVIDERS: a wrong entry is a clear configuration error, never a guess."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pathfinder.config import ConfigurationError
from pathfinder.sso.settings import load_sso_settings, secret_setting

GOOGLE = {"issuer": "https://accounts.google.com", "client_id": "abc.apps.googleusercontent.com"}


def settings(providers: Any, **extra: Any) -> Any:
    return load_sso_settings({"SSO_PROVIDERS": providers, **extra})


def test_a_provider_is_read_with_its_secret_and_defaults() -> None:
    loaded = settings(
        json.dumps({"google": GOOGLE}),  # as PATHFINDER_SSO_PROVIDERS holds it
        SSO_CLIENT_SECRET_GOOGLE="s3cret",
        PUBLIC_BASE_URL="https://app.example.com/",
    )
    google = loaded.providers["google"]
    assert google.client_secret == "s3cret"
    assert google.scopes == ("openid", "email", "profile")
    assert google.trust_mfa is False and google.mfa_amr == ("mfa",)
    assert loaded.redirect_uri(google) == "https://app.example.com/api/v1/auth/sso/google/callback"


def test_no_providers_is_no_providers() -> None:
    assert settings(None).providers == {}


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"Google": GOOGLE}, "lower case"),
        ({"a" * 21: GOOGLE}, "at most 20"),
        ({"google": {**GOOGLE, "client_secret": "x"}}, "SSO_CLIENT_SECRET_GOOGLE"),
        ({"google": {**GOOGLE, "issuer": "http://accounts.google.com"}}, "https"),
        ({"google": {**GOOGLE, "scopes": ["email"]}}, "openid"),
        ({"google": {**GOOGLE, "colour": "blue"}}, "unknown keys"),
        ({"google": {"issuer": GOOGLE["issuer"]}}, "client_id"),
        ("not json", "not JSON"),
    ],
)
def test_wrong_entries_are_refused(providers: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        settings(providers, SSO_CLIENT_SECRET_GOOGLE="s3cret")


def test_a_missing_secret_names_its_setting() -> None:
    with pytest.raises(ConfigurationError, match="PATHFINDER_SSO_CLIENT_SECRET_MY_IDP"):
        settings({"my-idp": {"issuer": "https://idp.example.com", "client_id": "x"}})
    assert secret_setting("my-idp") == "SSO_CLIENT_SECRET_MY_IDP"


def test_plain_http_is_for_loopback_only() -> None:
    local = {"issuer": "http://127.0.0.1:8080", "client_id": "x"}
    assert settings({"local": local}, SSO_CLIENT_SECRET_LOCAL="s").providers["local"]
