"""Request bodies and query strings of ``/api/v1/cpa/...`` (pydantic, unknown fields refused).

Field rules that need no database live here (lengths, ranges, date order within one body);
rules that need the framework or the user's other rows (known competency code, dates
inside the report period, overlapping periods, the character limit) are the service's.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from pathfinder.api.validation import RequestModel
from pathfinder.auth.schemas import check_email
from pathfinder.cpa.paging import CpaPageQuery
from pathfinder.schema.shared.cpa import ROUTES, TIME_CATEGORIES

# Per part, before the configured limit on the total is applied: only a sanity bound.
NARRATIVE_MAX = 50_000


def _single_line(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must be one line of text without control characters")
    return value


def _text(value: str) -> str:
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


Line = Annotated[str, AfterValidator(_single_line)]
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_single_line)]
Narrative = Annotated[str, Field(max_length=NARRATIVE_MAX), AfterValidator(_text)]
Code = Annotated[
    str,
    Field(min_length=3, max_length=8, pattern=r"^[A-Za-z]{2}[0-9]{1,2}$"),
    AfterValidator(str.upper),
]
FrameworkVersion = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_single_line)]
Level = Annotated[int, Field(ge=0, le=2)]
Hours = Annotated[Decimal, Field(ge=0, max_digits=7, decimal_places=2)]
Route = Literal["EVR", "PPR"]
TimeCategory = Literal["direct_work", "supervision", "training", "research", "documentation"]
# The Literals are spelled out for the type checker; they must name what the CHECKs allow.
if set(get_args(Route)) != set(ROUTES) or set(get_args(TimeCategory)) != set(TIME_CATEGORIES):
    raise RuntimeError("cpa schemas are out of step with pathfinder.schema.shared.cpa")


def _end_after_start(start_field: str, *, strict: bool):  # type: ignore[no-untyped-def]
    """A validator for an end date: after (``strict``) or not before the start date."""

    def check(value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get(start_field)
        if value is not None and start is not None:
            if strict and value <= start:
                raise ValueError(f"must be after {start_field}")
            if not strict and value < start:
                raise ValueError(f"must not be before {start_field}")
        return value

    return check


# -- reports -----------------------------------------------------------------------------------


class ReportCreate(RequestModel):
    route: Route
    employer_name: Title
    position_title: Title
    period_start: date
    period_end: date
    hours_worked: Hours | None = None
    leave_days: int | None = Field(default=None, ge=0, le=3660)
    submission_deadline: date | None = Field(
        default=None, description="When this period must be reported by (the body's date)."
    )
    framework_version: FrameworkVersion | None = None

    _period = field_validator("period_end")(_end_after_start("period_start", strict=True))


class ReportUpdate(RequestModel):
    """Changed fields of a report; ``version`` is the one the client last read."""

    version: int = Field(ge=1)
    route: Route | None = None
    employer_name: Title | None = None
    position_title: Title | None = None
    period_start: date | None = None
    period_end: date | None = None
    hours_worked: Hours | None = None
    leave_days: int | None = Field(default=None, ge=0, le=3660)
    submission_deadline: date | None = None


class VersionQuery(RequestModel):
    """``?version=`` of a delete: the version the client last read."""

    version: int = Field(ge=1)


# -- experiences -------------------------------------------------------------------------------


class CpaExperienceCreate(RequestModel):
    sub_competency_code: Code
    experience_title: Title
    experience_start_date: date
    experience_end_date: date | None = None
    proficiency_level: Level
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None

    _dates = field_validator("experience_end_date")(
        _end_after_start("experience_start_date", strict=False)
    )


class CpaExperienceUpdate(RequestModel):
    """Changed fields; the edit becomes a new version. ``version_number`` as last read."""

    version_number: int = Field(ge=1)
    sub_competency_code: Code | None = None
    experience_title: Title | None = None
    experience_start_date: date | None = None
    experience_end_date: date | None = None
    proficiency_level: Level | None = None
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class RestoreRequest(RequestModel):
    """Restore an older version; ``version_number`` is the *current* one as last read."""

    version_number: int = Field(ge=1)


class ExperienceVersionQuery(RequestModel):
    version_number: int = Field(ge=1)


class ExperienceReview(RequestModel):
    """The provincial reviewer's assessment, recorded by the candidate."""

    approval_status: Literal["approved", "rejected", "revision_requested"]
    # Validated even when absent: an approval needs the level the reviewer confirmed.
    approved_level: Level | None = Field(default=None, validate_default=True)

    @field_validator("approved_level")
    @classmethod
    def _level_when_approved(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("approval_status") == "approved" and value is None:
            raise ValueError("the confirmed level is needed when the experience is approved")
        return value


# -- breakdown and time ------------------------------------------------------------------------


class ActivityCreate(RequestModel):
    activity_type: Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_single_line)]
    activity_description: Annotated[str, Field(max_length=5000), AfterValidator(_text)] | None = (
        None
    )
    start_date: date | None = None
    end_date: date | None = None
    hours_spent: Hours | None = None
    competencies_demonstrated: list[Code] = Field(default_factory=list, max_length=25)
    deliverables: list[Title] = Field(default_factory=list, max_length=50)
    business_impact: Annotated[str, Field(max_length=1000), AfterValidator(_text)] | None = Field(
        default=None, description="What the activity changed for the organisation."
    )
    sort_order: int | None = Field(default=None, ge=0, le=100_000)

    _dates = field_validator("end_date")(_end_after_start("start_date", strict=False))


class ActivityUpdate(RequestModel):
    activity_type: (
        Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_single_line)] | None
    ) = None
    activity_description: Annotated[str, Field(max_length=5000), AfterValidator(_text)] | None = (
        None
    )
    start_date: date | None = None
    end_date: date | None = None
    hours_spent: Hours | None = None
    competencies_demonstrated: list[Code] | None = Field(default=None, max_length=25)
    deliverables: list[Title] | None = Field(default=None, max_length=50)
    business_impact: Annotated[str, Field(max_length=1000), AfterValidator(_text)] | None = None
    sort_order: int | None = Field(default=None, ge=0, le=100_000)


DayHours = Annotated[Decimal, Field(gt=0, le=24, max_digits=4, decimal_places=2)]


class TimeEntryCreate(RequestModel):
    entry_date: date
    hours: DayHours
    activity_category: TimeCategory = "direct_work"
    description: Annotated[str, Field(max_length=1000), AfterValidator(_text)] | None = None
    is_billable: bool = Field(default=True, description="Hours billed to a client.")
    is_cpa_eligible: bool = Field(
        default=True, description="Hours that count toward CPA practical experience."
    )


class TimeEntryUpdate(RequestModel):
    hours: DayHours | None = None
    activity_category: TimeCategory | None = None
    description: Annotated[str, Field(max_length=1000), AfterValidator(_text)] | None = None
    is_billable: bool | None = None
    is_cpa_eligible: bool | None = None


# -- submissions -------------------------------------------------------------------------------


# A provincial body's reference number or confirmation code, as their system shows it.
CpaReference = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")
]


class SubmissionCreate(RequestModel):
    """Freeze the report: ``version`` is the report version the candidate reviewed."""

    submission_type: Literal["draft", "final", "revision"]
    version: int = Field(ge=1)
    cpa_reference_number: CpaReference | None = Field(
        default=None, description="The reference number the body's system gave the filing."
    )
    cpa_confirmation_code: CpaReference | None = Field(
        default=None, description="The confirmation code the body's system gave the filing."
    )


class SubmissionStatusChange(RequestModel):
    """The outcome the provincial body gave, recorded by the candidate."""

    status: Literal["accepted", "needs_changes", "rejected", "withdrawn"]
    notes: Annotated[str, Field(max_length=2000), AfterValidator(_text)] | None = None
    # Recorded now when the candidate did not have them at submission time.
    cpa_reference_number: CpaReference | None = None
    cpa_confirmation_code: CpaReference | None = None


class ExportQuery(RequestModel):
    format: Literal["json", "pdf", "docx"] = "json"


# -- drafts ------------------------------------------------------------------------------------


class DraftCreate(RequestModel):
    sub_competency_code: Code
    proficiency_level: Level
    title: Title | None = None
    framework_version: FrameworkVersion | None = None
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class DraftUpdate(RequestModel):
    sub_competency_code: Code | None = None
    proficiency_level: Level | None = None
    title: Title | None = None
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class DraftPromote(RequestModel):
    """Turn a draft into an experience of a report (dates must be inside its period)."""

    report_id: Annotated[str, Field(min_length=1, max_length=26), AfterValidator(_single_line)]
    experience_start_date: date
    experience_end_date: date | None = None
    experience_title: Title | None = None

    _dates = field_validator("experience_end_date")(
        _end_after_start("experience_start_date", strict=False)
    )


class DraftListQuery(CpaPageQuery):
    sub_competency_code: Code | None = None
    status: Literal["draft", "promoted"] | None = None


# -- reading -----------------------------------------------------------------------------------


class FrameworkQuery(RequestModel):
    version: FrameworkVersion | None = None


class ProgressQuery(RequestModel):
    """``as_of`` defaults to today, ``per_start_date`` to the first period's start."""

    as_of: date | None = None
    per_start_date: date | None = None
    framework_version: FrameworkVersion | None = None


class MilestoneQuery(CpaPageQuery):
    source: Literal["self", "reviewer"] | None = None


# -- people: shares, decisions, comments, mentor meetings --------------------------------------

ShareRole = Literal["mentor", "supervisor", "program_leader"]
ShareScope = Literal["read", "comment", "verify", "certify"]
GranteeKind = Literal["account", "link"]
CommentPart = Literal["challenge", "actions", "results", "lessons_learned"]
ResourceId = Annotated[str, Field(min_length=1, max_length=26), AfterValidator(_single_line)]
Token = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_single_line)]
Note = Annotated[str, Field(min_length=1, max_length=10_000), AfterValidator(_text)]


class ShareCreate(RequestModel):
    """Grant a person access to one report (``report_id``) or the whole PER record (none)."""

    report_id: ResourceId | None = None
    role: ShareRole
    scope: ShareScope
    grantee_kind: GranteeKind
    email: str = Field(max_length=254, description="Where the invitation or the link is mailed.")
    expires_at: datetime = Field(description="When the access ends (at most 400 days ahead).")

    _email = field_validator("email")(check_email)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. Z)")
        return value


class ShareAccept(RequestModel):
    token: Token


class Decision(RequestModel):
    """A supervisor's (EVR) or program leader's (PPR) decision on the current version."""

    decision: Literal["approve", "return"] = Field(
        description="`approve` verifies (EVR) or certifies (PPR); `return` sends it back."
    )
    comment: Note | None = Field(default=None, description="Required when returning.")


class CommentCreate(RequestModel):
    body: Note
    part: CommentPart | None = Field(
        default=None, description="One part of the response, or none for the whole experience."
    )
    parent_id: ResourceId | None = Field(default=None, description="The comment answered.")
    mentions: list[Annotated[str, Field(min_length=1, max_length=26)]] = Field(
        default_factory=list,
        max_length=20,
        description="`candidate`, or ids of shares on the same report.",
    )
    private: bool = Field(default=False, description="A note shown to its author only.")


class CommentResolve(RequestModel):
    resolved: bool


class MeetingCreate(RequestModel):
    meeting_date: date
    topics: Note
    concerns: Note | None = None
    next_steps: Note | None = None
