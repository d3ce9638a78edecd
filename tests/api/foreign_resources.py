"""How the route matrix makes another user's resource for each path parameter.

Each entry maps a path parameter name to a function that creates that kind of resource as
*another* user through the real API and returns its id. The matrix then calls every
user-level route with that id and expects 404. A user-level route whose parameter has no
entry here fails the matrix: add one when you add such a route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.career import helpers as career
from tests.cpa import factories as cpa

# (client, the other user's auth headers, the other user's token answer) -> resource id
ResourceFactory = Callable[[FlaskClient, dict[str, str], dict[str, Any]], str]


def _session(client: FlaskClient, headers: dict[str, str], tokens: dict[str, Any]) -> str:
    return str(tokens["session_id"])


FOREIGN_RESOURCES: dict[str, ResourceFactory] = {
    "session_id": _session,
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
    "career_experience_id": career.foreign_experience,
    "skill_id": career.foreign_skill,
    "archive_id": career.foreign_archived,
}

# Path parameters naming shared catalogue entries that every user may read (no owner, so
# there is no "another user's" one to be refused); the matrix skips its cross-user check.
SHARED_RESOURCES = frozenset({"ref_skill_id", "career_path_id"})
