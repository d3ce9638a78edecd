"""One way for every command to report a mistake: one line on stderr, exit status 1."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
import sqlalchemy as sa

from pathfinder.db import TenantNotProvisioned
from pathfinder.provisioning import ProvisioningError
from pathfinder.provisioning.locks import TenantBusy
from pathfinder.schema.naming import InvalidUsername
from pathfinder.security.keys import CryptoError
from pathfinder.security.rotation import UnknownUser
from pathfinder.security.secrets import MissingSecret

F = TypeVar("F", bound=Callable[..., Any])


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (drivers append SQL and hints below it)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def dba_errors(func: F) -> F:
    """Turn the errors an operator can act on into one line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (
            InvalidUsername,
            ProvisioningError,
            TenantBusy,
            TenantNotProvisioned,
            CryptoError,
            MissingSecret,
            UnknownUser,
        ) as exc:
            raise click.ClickException(one_line(exc)) from exc
        except sa.exc.OperationalError as exc:
            raise click.ClickException(f"database error: {one_line(exc.orig or exc)}") from exc

    return wrapper  # type: ignore[return-value]
