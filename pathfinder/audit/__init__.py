"""The audit log: ``record()`` in the change's own transaction, sealing, verification.

* :mod:`~pathfinder.audit.record` appends a row with no lock shared by writers;
* :mod:`~pathfinder.audit.sealer` integrates committed rows into a Merkle tree in batches and
  signs a checkpoint, also exported outside the database (:mod:`~.checkpoints`);
* :mod:`~pathfinder.audit.verify` checks the rows, the tree and the exported checkpoints;
* :mod:`~pathfinder.audit.pseudonymise` blanks a deleted user without breaking any of it;
* :mod:`~pathfinder.audit.middleware` writes one ``request`` row per API request.

Design and operations: ``docs/audit.md``. This package only hands the names on.
"""

from __future__ import annotations

from flask import Flask

from pathfinder.audit.events import EVENTS, OWASP_EVENTS, UnknownAuditEvent
from pathfinder.audit.pseudonymise import pseudonymise_user, user_pseudonym
from pathfinder.audit.record import insert_rows, prepare_row, record
from pathfinder.audit.sealer import SealReport, seal
from pathfinder.audit.verify import Finding, VerifyReport, verify_configured, verify_log

__all__ = [
    "EVENTS",
    "OWASP_EVENTS",
    "Finding",
    "SealReport",
    "UnknownAuditEvent",
    "VerifyReport",
    "init_app",
    "insert_rows",
    "prepare_row",
    "pseudonymise_user",
    "record",
    "seal",
    "user_pseudonym",
    "verify_configured",
    "verify_log",
]


def init_app(app: Flask) -> None:
    """Install the request audit middleware (one ``request`` row per API request)."""
    from pathfinder.audit import middleware

    middleware.init_app(app)
