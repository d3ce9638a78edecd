"""What a user's stored preferences make Pathfinder do (or not do).

``pf_user_preferences`` holds three JSON documents the user writes through
``PUT /me/preferences``. Two of their keys change what the platform does:

* ``privacy_settings.analytics_opt_out: true`` stops usage-event collection for the user
  (:func:`analytics_opted_out`);
* ``notification_settings.email``: ``{"<category>": false}`` stops e-mail of that category,
  ``notification_settings.email_enabled: false`` stops every category that can be stopped
  (:func:`wants_email`). Security and account mail (sign-in, password, e-mail change,
  deletion) is never a category that can be stopped.

Only a JSON ``true``/``false`` counts: any other value is ignored rather than guessed at.
Each check is one primary-key read, inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pathfinder.schema.shared.identity import user_preferences

# E-mail a user may turn off, with what it is; anything else is always sent.
OPTIONAL_EMAIL_CATEGORIES: dict[str, str] = {
    "cpa_deadlines": "reminders before a CPA report's submission deadline",
}
SECURITY = "security"


def _documents(conn: Connection, user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    row = conn.execute(
        sa.select(
            user_preferences.c.privacy_settings, user_preferences.c.notification_settings
        ).where(user_preferences.c.user_id == user_id)
    ).first()
    if row is None:
        return {}, {}
    privacy, notifications = row
    return (privacy if isinstance(privacy, dict) else {}), (
        notifications if isinstance(notifications, dict) else {}
    )


def analytics_opted_out(conn: Connection, user_id: str | None) -> bool:
    """Whether ``user_id`` turned usage analytics off (anonymous callers cannot)."""
    if user_id is None:
        return False
    privacy, _ = _documents(conn, user_id)
    return privacy.get("analytics_opt_out") is True


def wants_email(conn: Connection, user_id: str | None, category: str) -> bool:
    """Whether mail of ``category`` may go to ``user_id``; security mail always may."""
    if user_id is None or category not in OPTIONAL_EMAIL_CATEGORIES:
        return True
    _, notifications = _documents(conn, user_id)
    if notifications.get("email_enabled") is False:
        return False
    per_category = notifications.get("email")
    if isinstance(per_category, dict) and per_category.get(category) is False:
        return False
    return True
