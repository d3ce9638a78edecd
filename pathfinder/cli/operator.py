"""Who ran a DBA command, and the audit row each command writes about what it did.

DBA commands run outside any request, so there is no signed-in principal to name. The actor
is the operating-system account and host the command ran on (``jane@db-admin-01``) with the
role ``dba``: that is what an investigator can tie to a person through the host's own logs.

Rows are written **after** the action, each in a short transaction of its own, not in the
action's transaction as the API does. On Oracle every DDL statement commits (provisioning,
migration, repair and deprovisioning are DDL), and key rotation and jobs commit batch by
batch, so there is no single transaction the row could join. The cost: a crash between an
action and its row loses the row, while the action's own records remain
(``pf_tenant_provisioning``, ``pf_job_runs``, the ``crypt_key_rotated`` rows written with
each key change). A row that cannot be written after a successful action stops the command
with an error, so a DBA action is never left unrecorded without anyone noticing.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pathfinder import audit
from pathfinder.db import get_database
from pathfinder.schema.shared.identity import users
from pathfinder.security.key_audit import record_key_audit

log = logging.getLogger(__name__)

DBA_ROLE = "dba"


def _os_user() -> str:
    """The login name, or the numeric uid when the system knows no name for it.

    Containers often run under a uid with no passwd entry, where ``getpass`` fails; the uid
    still tells an investigator which account it was.
    """
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # 3.13 raises OSError, older versions the others
        uid = getattr(os, "getuid", None)
        return f"uid{uid()}" if uid is not None else "unknown"


def dba_actor() -> dict[str, str]:
    """The audit actor of a DBA command: role ``dba``, displayed as ``<os user>@<host>``."""
    return {"role": DBA_ROLE, "username": f"{_os_user()}@{socket.gethostname()}"}


def record_dba_action(
    event: str,
    command: str,
    *,
    username: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    target_display: str | None = None,
    outcome: str = "success",
    error: BaseException | None = None,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Record that a DBA ran ``command``, in a transaction of its own; return the row's id.

    Call it after the action has committed (see the module docstring for why). ``username``
    names the user the action was about: the row targets their ``pf_users`` id when they
    have one, so pseudonymising a deleted account covers it, else the tenant by name.
    ``error`` makes the outcome ``failure`` and adds the exception's class name to the
    details, never its message, which may quote SQL or values. ``details`` hold counts,
    versions and names only, never secrets.
    """
    body: dict[str, Any] = {"command": command, **(details or {})}
    if error is not None:
        outcome = "failure"
        body["error"] = type(error).__name__
    with get_database().transaction() as conn:
        if username is not None:
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.username == username)
            ).scalar_one_or_none()
            target_type = "user" if user_id is not None else "tenant"
            target_id = user_id
            target_display = username
        return audit.record(
            conn,
            event,
            actor=dba_actor(),
            target_type=target_type,
            target_id=target_id,
            target_display=target_display,
            outcome=outcome,
            details=body,
        )


@dataclass(frozen=True)
class UserActionRow:
    """One user's row of a batch command: what happened to them, for the audit log."""

    username: str
    outcome: str = "success"
    details: Mapping[str, Any] = field(default_factory=dict)
    error_class: str | None = None


def record_dba_actions(
    conn: sa.Connection, event: str, command: str, entries: Sequence[UserActionRow]
) -> None:
    """Record a batch command's rows, one per user, on ``conn``, in the caller's transaction.

    For commands that act on users in batches (``tenants migrate``): the users' ids are
    read in one query and the rows inserted in one statement, inside the transaction that
    records the batch in the provisioning registry. On PostgreSQL that is the batch's own
    transaction, so the action and its rows commit together; on SQLite and Oracle it is
    the registry's, right after the DDL (see the module docstring).
    """
    if not entries:
        return
    names = [entry.username for entry in entries]
    ids: dict[str, str] = {}
    for start in range(0, len(names), 1000):  # Oracle's IN-list limit
        query = sa.select(users.c.username, users.c.id).where(
            users.c.username.in_(names[start : start + 1000])
        )
        ids.update({name: user_id for name, user_id in conn.execute(query)})
    actor = dba_actor()
    rows = []
    for entry in entries:
        body: dict[str, Any] = {"command": command, **entry.details}
        if entry.error_class is not None:
            body["error"] = entry.error_class
        user_id = ids.get(entry.username)
        rows.append(
            audit.prepare_row(
                event,
                actor=actor,
                target_type="user" if user_id is not None else "tenant",
                target_id=user_id,
                target_display=entry.username,
                outcome=entry.outcome,
                details=body,
            )
        )
    audit.insert_rows(conn, rows)


@dataclass
class DbaAction:
    """What the block of :func:`dba_action` did, filled in by it before it ends."""

    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def dba_action(
    event: str,
    command: str,
    *,
    username: str | None = None,
    target_type: str | None = None,
    target_display: str | None = None,
) -> Iterator[DbaAction]:
    """Run a DBA action in the block, then record it with :func:`record_dba_action`.

    The block sets ``outcome`` and ``details`` on the yielded :class:`DbaAction`. If it
    raises, a ``failure`` row naming the exception's class is written and the exception goes
    on. Should that row fail too (the database went away), the action's own error is the one
    the DBA needs to see, so the audit error is logged instead of replacing it.
    """
    action = DbaAction()
    target: dict[str, Any] = {
        "username": username,
        "target_type": target_type,
        "target_display": target_display,
    }
    try:
        yield action
    except Exception as exc:
        try:
            record_dba_action(event, command, error=exc, details=action.details, **target)
        except Exception:
            log.exception("could not record the failure of %r in the audit log", command)
        raise
    record_dba_action(event, command, outcome=action.outcome, details=action.details, **target)


def dba_key_audit(
    conn: sa.Connection, event: str, user_id: str | None, details: dict[str, Any]
) -> None:
    """The key-rotation audit hook of DBA commands: each key change's row names the DBA too.

    Those rows are written in the key change's own transaction, so unlike the run's summary
    row they cannot be lost in a crash.
    """
    record_key_audit(conn, event, user_id, details, actor=dba_actor())
