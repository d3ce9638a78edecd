"""How the route matrix makes another user's resource for each path parameter.

Each entry maps a path parameter name to a function that creates that kind of resource as
*another* user through the real API and returns its id. The matrix then calls every
user-level route with that id and expects 404. A user-level route whose parameter has no
entry here fails the matrix: add one when you add such a route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.career import helpers as career
from tests.cpa import factories as cpa

# (client, the other user's auth headers, the other user's token answer) -> resource id
ResourceFactory = Callable[[FlaskClient, dict[str, str], dict[str, Any]], str]

UNKNOWN_ID = "01J00000000000000000000000"
# A value of each route converter's form that names nothing (the default: an id).
UNKNOWN_VALUES = {
    "sso_provider": "no-such-provider",
    "flag_key": "no_such_flag",
    "username": "no_such_user",
}


def unknown_path(rule: str) -> str:
    """``rule`` with each ``<converter:name>`` filled with a value of its form naming nothing."""
    return re.sub(
        r"<(?:([^:<>]+):)?[^<>]+>",
        lambda found: UNKNOWN_VALUES.get(found.group(1) or "", UNKNOWN_ID),
        rule,
    )


def _session(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    return str(tokens["session_id"])


def _sso_account(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    """A linked account of the other user, written directly: linking through the API needs
    an identity provider (tests/sso drives a real one)."""
    import base64
    import json
    from datetime import UTC, datetime

    from pathfinder.db import get_database
    from pathfinder.ids import new_id
    from pathfinder.schema.shared.identity import sso_accounts

    payload = tokens["access_token"].split(".")[1]
    user_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    link_id, now = new_id(), datetime.now(UTC)
    with get_database(client.application).transaction() as conn:
        conn.execute(
            sso_accounts.insert().values(
                id=link_id,
                user_id=user_id,
                provider="idp",
                provider_user_id=f"subject-{link_id}",
                row_version=1,
                created_at=now,
                updated_at=now,
            )
        )
    return link_id


FOREIGN_RESOURCES: dict[str, ResourceFactory] = {
    "session_id": _session,
    "sso_account_id": _sso_account,
    # Providers belong to nobody: an unconfigured one is 404 to everyone.
    "provider": lambda client, headers, tokens: "no-such-provider",
    "conversation_id": lambda client, headers, tokens: str(
        client.post(
            "/api/v1/me/chat/conversations", headers=headers, json={"title": "x"}
        ).get_json()["id"]
    ),
    "progression_id": lambda client, headers, tokens: str(
        client.post(
            "/api/v1/me/analytics/skills-progression",
            headers=headers,
            json={
                "skill_name": "Python",
                "assessed_on": "2024-01-01",
                "proficiency_level": 3,
                "assessment_source": "self",
            },
        ).get_json()["id"]
    ),
    "report_id": cpa.foreign_report,
    "experience_id": cpa.foreign_experience,
    "activity_id": cpa.foreign_activity,
    "entry_id": cpa.foreign_time_entry,
    "submission_id": cpa.foreign_submission,
    "draft_id": cpa.foreign_draft,
    "share_id": cpa.foreign_share,
    "comment_id": cpa.foreign_comment,
    "meeting_id": cpa.foreign_meeting,
    "career_experience_id": career.foreign_experience,
    "skill_id": career.foreign_skill,
    "archive_id": career.foreign_archived,
}

# Path parameters naming shared catalogue entries that every user may read (no owner, so
# there is no "another user's" one to be refused); the matrix skips its cross-user check.
SHARED_RESOURCES = frozenset({"ref_skill_id", "career_path_id"})
