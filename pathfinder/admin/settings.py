"""Administration settings and their defaults (override any as ``PATHFINDER_<NAME>``)."""

from __future__ import annotations

from typing import Any

from flask import current_app

ADMIN_DEFAULTS: dict[str, Any] = {
    # Invitation lifetime when the admin gives none (1 to 30 days may be asked for).
    "INVITATION_DEFAULT_DAYS": 7,
    # The one reminder goes out when an invitation has less than this left.
    "INVITATION_REMINDER_HOURS": 48,
    # Days between POST /me/deletion and the deletion job erasing the account.
    "DELETION_COOLING_OFF_DAYS": 7,
    # How long a GDPR export's download link works (it works once).
    "EXPORT_LINK_HOURS": 24,
    # Exports larger than this (bytes of JSON) are delivered as a zip.
    "EXPORT_ZIP_THRESHOLD_BYTES": 1_048_576,
    # Rows per transaction in the invitation and deletion jobs.
    "ADMIN_JOB_BATCH_SIZE": 200,
}


def setting(name: str) -> Any:
    """The app's value of ``name``, else its default."""
    return current_app.config.get(name, ADMIN_DEFAULTS[name])
