"""The CPA module's problems: each has a stable ``type`` a client can branch on."""

from __future__ import annotations

from pathfinder.api.errors import Conflict, Problem
from pathfinder.api.validation import ValidationProblem


class StaleVersion(Conflict):
    """The resource changed since the client read it (optimistic versioning)."""

    slug = "cpa-stale-version"
    title = "The resource has changed since you read it"


class PeriodOverlap(Conflict):
    slug = "cpa-period-overlap"
    title = "Report periods overlap"


class ReportLocked(Conflict):
    slug = "cpa-report-locked"
    title = "The report cannot be changed in its current status"


class InvalidTransition(Conflict):
    slug = "cpa-invalid-transition"
    title = "That status change is not allowed"


class SubmissionImmutable(Conflict):
    slug = "cpa-submission-immutable"
    title = "A final submission cannot be changed"


class DuplicateTimeEntry(Conflict):
    slug = "cpa-duplicate-time-entry"
    title = "There is already a time entry for that day"


class ResponseTooLong(ValidationProblem):
    """A write-up over the character limit (422, with the counts)."""

    slug = "cpa-response-too-long"
    title = "The response is longer than the character limit"


def invalid(field: str, message: str, detail: str | None = None) -> ValidationProblem:
    """A 422 naming one field, in the same shape pydantic errors have."""
    return ValidationProblem(
        detail or "One or more fields are invalid.", errors=[{"field": field, "message": message}]
    )


class ShareGone(Problem):
    """A share that existed but no longer grants anything (revoked or expired): 410."""

    status = 410
    slug = "cpa-share-gone"
    title = "The share has ended"


class ShareScope(Problem):
    """The share exists and covers the thing, but its scope or role does not allow this."""

    status = 403
    slug = "cpa-share-scope"
    title = "The share's scope does not allow this"
