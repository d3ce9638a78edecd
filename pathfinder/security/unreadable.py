"""Stored values that did not decrypt: reported where they happen, audited on their own.

A cell that fails to open (tampered with, restored from an older row version, its key
shredded) is evidence, and the evidence must survive whatever happens to the request: the
request's transaction may roll back (a strict open raises), or it may be a read that never
commits. So :meth:`~pathfinder.security.fields.FieldCipher.open_row` only *reports* the
failure here; the reports of one application context (a request, a CLI command, a job) are
written as ``crypt_decrypt_fail`` audit rows in a transaction of their own when that context
ends, after the request's own transaction has closed (on SQLite a second writer inside it
would wait on the first).

Outside an application context (a library caller) the failure is logged instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context

log = logging.getLogger(__name__)

AUDIT_EVENT = "crypt_decrypt_fail"
_PENDING = "_pathfinder_unreadable_cells"


@dataclass(frozen=True)
class UnreadableCell:
    """One stored value that did not open, and why (the error's class, never the value)."""

    user_id: str
    table: str
    column: str
    row_id: str
    row_version: int
    error: BaseException

    def details(self) -> dict[str, Any]:
        """What the audit row keeps: where the value is and the kind of failure."""
        return {
            "table": self.table,
            "column": self.column,
            "row_id": self.row_id,
            "row_version": self.row_version,
            "error": type(self.error).__name__,
        }


def report_unreadable(cell: UnreadableCell) -> None:
    """Note a failed cell for auditing when the current application context ends."""
    if not has_app_context():
        log.error("a stored value did not decrypt: %s", cell.details())
        return
    from pathfinder.audit.record import prepare_row

    # The row is prepared now, while the request (its id, path, caller) is still known.
    try:
        row = prepare_row(
            AUDIT_EVENT,
            actor=_actor(),
            target_type="user",
            target_id=cell.user_id,
            outcome="failure",
            details=cell.details(),
        )
    except Exception:  # the evidence is logged even if the row cannot be built
        log.exception("could not prepare the audit row of an unreadable value")
        log.error("a stored value did not decrypt: %s", cell.details())
        return
    g.setdefault(_PENDING, []).append(row)


def pending_reports() -> int:
    """How many failures wait to be audited in this context (for tests and diagnostics)."""
    return len(g.get(_PENDING, [])) if has_app_context() else 0


def flush_reports(exc: BaseException | None = None) -> None:
    """Write this context's failure rows in a transaction of their own (teardown hook)."""
    rows = g.pop(_PENDING, None) if has_app_context() else None
    if not rows:
        return
    from pathfinder.audit.record import insert_rows
    from pathfinder.db import get_database

    try:
        with get_database(current_app).transaction() as conn:
            insert_rows(conn, rows)
    except Exception:
        # Never mask the request's own outcome; the log keeps the evidence.
        log.exception("could not audit %d unreadable value(s)", len(rows))
        for row in rows:
            log.error("a stored value did not decrypt: %s", row.get("details"))


def init_app(app: Flask) -> None:
    """Audit each context's failures when it ends (requests, CLI commands and jobs alike).

    A strict open that fails (an edit needs every cell of the row) ends the request with a
    problem that names the cause, not a bare 500 and never a stack trace.
    """
    from pathfinder.security.fields import UNREADABLE_ERRORS

    app.teardown_appcontext(flush_reports)
    for error in UNREADABLE_ERRORS:
        app.register_error_handler(error, _handle_crypto_error)


def _handle_crypto_error(error: Exception) -> Response:
    from pathfinder.api.errors import PROBLEM_TYPE_PREFIX, problem_response

    log.error("a request stopped on stored data that did not decrypt: %s", error)
    body = {
        "type": f"{PROBLEM_TYPE_PREFIX}stored-data-unreadable",
        "title": "Stored data could not be decrypted",
        "status": 500,
        "detail": "A stored value of this record did not decrypt, so it cannot be changed; "
        "nothing was changed. The failure has been recorded for the operators.",
    }
    return problem_response(body, 500)


def _actor() -> Any:
    from pathfinder.auth.principal import current_principal

    return current_principal()
