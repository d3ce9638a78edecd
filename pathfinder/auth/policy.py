"""Route access policies: every view declares one, or it is denied.

``@public`` for routes anyone may call, ``@requires("user" | "admin" | "site_admin")`` for the
rest. The guard (:mod:`pathfinder.auth.guard`) reads the declaration before the view runs;
a view without one answers 403 and is caught by the route x role matrix test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pathfinder.auth.principal import ROLE_RANK

POLICY_ATTRIBUTE = "_pathfinder_policy"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    """Who may call a route: anyone (``role`` None) or callers with at least ``role``."""

    role: str | None

    @property
    def public(self) -> bool:
        return self.role is None


def public(view: F) -> F:
    """Anyone may call this route, without a token."""
    setattr(view, POLICY_ATTRIBUTE, Policy(role=None))
    return view


def requires(role: str) -> Callable[[F], F]:
    """Callers need a valid access token, a live session and at least ``role``."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: F) -> F:
        setattr(view, POLICY_ATTRIBUTE, Policy(role=role))
        return view

    return decorate


def policy_of(view: Callable[..., Any]) -> Policy | None:
    """The declared policy of a view function, or None when it has none."""
    return getattr(view, POLICY_ATTRIBUTE, None)
