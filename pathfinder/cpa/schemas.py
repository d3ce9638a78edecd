"""Request bodies and query strings of ``/api/v1/cpa/...`` (pydantic, unknown fields refused).

Field rules that need no database live here (lengths, ranges, date order within one body);
rules that need the framework or the user's other rows (known competency code, dates
inside the report period, overlapping periods, the character limit) are the service's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, StringConstraints

from pathfinder.api.fields import STRIPPED, Id, IsoDate, IsoDateTime, decimal_number, omittable
from pathfinder.api.validation import RequestModel, Rule
from pathfinder.auth.schemas import Email
from pathfinder.cpa.paging import CpaPageQuery
from pathfinder.schema.shared.cpa import ROUTES, TIME_CATEGORIES

# Per part, before the configured limit on the total is applied: only a sanity bound.
NARRATIVE_MAX = 50_000

# CPA text is kept as written (not stripped): its patterns are the whole rule. A line has
# no control character and, where it is required, one that is not a space; a narrative
# may hold line breaks and tabs.
_LINE = r"[^\x00-\x1f\x7f]"
_VISIBLE = f"[^\\x00-\\x20\\x7f{STRIPPED}]"
REQUIRED_LINE_PATTERN = f"^{_LINE}*{_VISIBLE}{_LINE}*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _single_line(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must be one line of text without control characters")
    return value


def _visible(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _text(value: str) -> str:
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _line(max_length: int) -> Any:
    """One line of required text, at most ``max_length`` characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=False, min_length=1, max_length=max_length),
        AfterValidator(_single_line),
        AfterValidator(_visible),
        Field(json_schema_extra={"pattern": REQUIRED_LINE_PATTERN}),
    ]


def _text_of(max_length: int) -> Any:
    """Free text with line breaks, at most ``max_length`` characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=False, max_length=max_length),
        AfterValidator(_text),
        Field(json_schema_extra={"pattern": TEXT_PATTERN}),
    ]


Title = _line(200)
ActivityType = _line(50)
Narrative = _text_of(NARRATIVE_MAX)
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=False, pattern=r"^[A-Za-z]{2}[0-9]{1,2}$"),
    AfterValidator(str.upper),
]
FrameworkVersion = _line(20)
Level = Annotated[int, Field(ge=0, le=2)]
Hours = decimal_number(places=2, minimum=0, maximum=99_999.99)
DayHours = decimal_number(places=2, minimum=0.01, maximum=24)
Route = Literal["EVR", "PPR"]
TimeCategory = Literal["direct_work", "supervision", "training", "research", "documentation"]
# The Literals are spelled out for the type checker; they must name what the CHECKs allow.
if set(get_args(Route)) != set(ROUTES) or set(get_args(TimeCategory)) != set(TIME_CATEGORIES):
    raise RuntimeError("cpa schemas are out of step with pathfinder.schema.shared.cpa")


def _order(start_field: str, end_field: str, *, strict: bool) -> Rule:
    """The rule: ``end_field`` after (``strict``) or not before ``start_field``."""

    def check(values: Mapping[str, Any]) -> str | None:
        start, end = values[start_field], values[end_field]
        if start is None or end is None:
            return None
        if strict and end <= start:
            return f"must be after {start_field}"
        if not strict and end < start:
            return f"must not be before {start_field}"
        return None

    says = f"{'after' if strict else 'not before'} `{start_field}`"
    return Rule(end_field, says, (start_field, end_field), check)


KNOWN_CODE = Rule(
    "sub_competency_code", "a competency of the report's (or the draft's) framework version"
)
KNOWN_FRAMEWORK = Rule("framework_version", "a framework version Pathfinder knows")
IN_PERIOD = (
    Rule("experience_start_date", "within the report's period"),
    Rule("experience_end_date", "within the report's period"),
)
NARRATIVE_LIMIT = tuple(
    Rule(
        part,
        "the four parts together (`challenge`, `actions`, `results`, `lessons_learned`) "
        "within the configured character limit; each part with text is named",
    )
    for part in ("challenge", "actions", "results", "lessons_learned")
)


# -- reports -----------------------------------------------------------------------------------


PERIOD_ORDER = _order("period_start", "period_end", strict=True)
NO_OVERLAP = Rule("period_start", "the period does not overlap another report of yours")


class ReportCreate(RequestModel):
    rules = (PERIOD_ORDER, KNOWN_FRAMEWORK, NO_OVERLAP)

    route: Route
    employer_name: Title
    position_title: Title
    period_start: IsoDate
    period_end: IsoDate
    hours_worked: Hours | None = None
    leave_days: int | None = Field(default=None, ge=0, le=3660)
    submission_deadline: IsoDate | None = Field(
        default=None, description="When this period must be reported by (the body's date)."
    )
    framework_version: FrameworkVersion | None = None


class ReportUpdate(RequestModel):
    """Changed fields of a report; ``version`` is the one the client last read.

    The fields but ``hours_worked`` and ``leave_days`` may be changed, not cleared.
    """

    rules = (
        PERIOD_ORDER,
        Rule("period_end", "after `period_start`, as sent or as stored"),
        NO_OVERLAP,
        Rule("period_start", "the report's experiences stay within the period"),
    )

    version: int = Field(ge=1)
    route: Route = omittable()
    employer_name: Title = omittable()
    position_title: Title = omittable()
    period_start: IsoDate = omittable()
    period_end: IsoDate = omittable()
    hours_worked: Hours | None = None
    leave_days: int | None = Field(default=None, ge=0, le=3660)
    submission_deadline: IsoDate | None = None


class VersionQuery(RequestModel):
    """``?version=`` of a delete: the version the client last read."""

    version: int = Field(ge=1)


# -- experiences -------------------------------------------------------------------------------


EXPERIENCE_ORDER = _order("experience_start_date", "experience_end_date", strict=False)


class CpaExperienceCreate(RequestModel):
    rules = (EXPERIENCE_ORDER, KNOWN_CODE, *IN_PERIOD, *NARRATIVE_LIMIT)

    sub_competency_code: Code
    experience_title: Title
    experience_start_date: IsoDate
    experience_end_date: IsoDate | None = None
    proficiency_level: Level
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class CpaExperienceUpdate(RequestModel):
    """Changed fields; the edit becomes a new version. ``version_number`` as last read.

    The code, title, start date and level may be changed, not cleared.
    """

    rules = (
        EXPERIENCE_ORDER,
        Rule("experience_end_date", "not before `experience_start_date`, as sent or stored"),
        KNOWN_CODE,
        *IN_PERIOD,
        *NARRATIVE_LIMIT,
    )

    version_number: int = Field(ge=1)
    sub_competency_code: Code = omittable()
    experience_title: Title = omittable()
    experience_start_date: IsoDate = omittable()
    experience_end_date: IsoDate | None = None
    proficiency_level: Level = omittable()
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

    rules = (
        Rule(
            "approved_level",
            "given when `approval_status` is `approved`",
            ("approval_status", "approved_level"),
            lambda values: (
                "the confirmed level is needed when the experience is approved"
                if values["approval_status"] == "approved" and values["approved_level"] is None
                else None
            ),
        ),
    )

    approval_status: Literal["approved", "rejected", "revision_requested"]
    approved_level: Level | None = None


# -- breakdown and time ------------------------------------------------------------------------


ActivityText = _text_of(5000)
ActivityImpact = _text_of(1000)
ACTIVITY_ORDER = _order("start_date", "end_date", strict=False)
ACTIVITY_CODES = Rule(
    "competencies_demonstrated.*", "a competency of the report's framework version"
)
ACTIVITY_IN_PERIOD = (
    Rule("start_date", "within the report's period"),
    Rule("end_date", "within the report's period"),
)


class ActivityCreate(RequestModel):
    rules = (ACTIVITY_ORDER, ACTIVITY_CODES, *ACTIVITY_IN_PERIOD)

    activity_type: ActivityType
    activity_description: ActivityText | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    hours_spent: Hours | None = None
    competencies_demonstrated: list[Code] = Field(default_factory=list, max_length=25)
    deliverables: list[Title] = Field(default_factory=list, max_length=50)
    business_impact: ActivityImpact | None = Field(
        default=None, description="What the activity changed for the organisation."
    )
    sort_order: int | None = Field(default=None, ge=0, le=100_000)


class ActivityUpdate(RequestModel):
    """Changed fields; ``activity_type`` and ``sort_order`` may be changed, not cleared."""

    rules = (
        ACTIVITY_ORDER,
        Rule("end_date", "not before `start_date`, as sent or stored"),
        ACTIVITY_CODES,
        *ACTIVITY_IN_PERIOD,
    )

    activity_type: ActivityType = omittable()
    activity_description: ActivityText | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    hours_spent: Hours | None = None
    competencies_demonstrated: list[Code] | None = Field(default=None, max_length=25)
    deliverables: list[Title] | None = Field(default=None, max_length=50)
    business_impact: ActivityImpact | None = None
    sort_order: int = omittable(ge=0, le=100_000)


EntryText = _text_of(1000)


class TimeEntryCreate(RequestModel):
    rules = (Rule("entry_date", "within the experience's dates"),)

    entry_date: IsoDate
    hours: DayHours
    activity_category: TimeCategory = "direct_work"
    description: EntryText | None = None
    is_billable: bool = Field(default=True, description="Hours billed to a client.")
    is_cpa_eligible: bool = Field(
        default=True, description="Hours that count toward CPA practical experience."
    )


class TimeEntryUpdate(RequestModel):
    """Changed fields; all but ``description`` may be changed, not cleared."""

    hours: DayHours = omittable()
    activity_category: TimeCategory = omittable()
    description: EntryText | None = None
    is_billable: bool = omittable()
    is_cpa_eligible: bool = omittable()


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


Notes = _text_of(2000)


class SubmissionStatusChange(RequestModel):
    """The outcome the provincial body gave, recorded by the candidate."""

    status: Literal["accepted", "needs_changes", "rejected", "withdrawn"]
    notes: Notes | None = None
    # Recorded now when the candidate did not have them at submission time.
    cpa_reference_number: CpaReference | None = None
    cpa_confirmation_code: CpaReference | None = None


class ExportQuery(RequestModel):
    format: Literal["json", "pdf", "docx"] = "json"


# -- drafts ------------------------------------------------------------------------------------


class DraftCreate(RequestModel):
    rules = (KNOWN_CODE, KNOWN_FRAMEWORK, *NARRATIVE_LIMIT)

    sub_competency_code: Code
    proficiency_level: Level
    title: Title | None = None
    framework_version: FrameworkVersion | None = None
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class DraftUpdate(RequestModel):
    """Changed fields; the code and the level may be changed, not cleared."""

    rules = (KNOWN_CODE, *NARRATIVE_LIMIT)

    sub_competency_code: Code = omittable()
    proficiency_level: Level = omittable()
    title: Title | None = None
    challenge: Narrative | None = None
    actions: Narrative | None = None
    results: Narrative | None = None
    lessons_learned: Narrative | None = None


class DraftPromote(RequestModel):
    """Turn a draft into an experience of a report (dates must be inside its period)."""

    rules = (
        EXPERIENCE_ORDER,
        Rule("report_id", "one of your reports that is still a draft"),
        Rule("experience_title", "given when the draft has no title"),
        KNOWN_CODE,
        *IN_PERIOD,
        *NARRATIVE_LIMIT,
    )

    report_id: Id
    experience_start_date: IsoDate
    experience_end_date: IsoDate | None = None
    experience_title: Title | None = None


class DraftListQuery(CpaPageQuery):
    sub_competency_code: Code | None = None
    status: Literal["draft", "promoted"] | None = None


# -- reading -----------------------------------------------------------------------------------


class FrameworkQuery(RequestModel):
    version: FrameworkVersion | None = None


class ProgressQuery(RequestModel):
    """``as_of`` defaults to today, ``per_start_date`` to the first period's start."""

    rules = (KNOWN_FRAMEWORK,)

    as_of: IsoDate | None = None
    per_start_date: IsoDate | None = None
    framework_version: FrameworkVersion | None = None


class MilestoneQuery(CpaPageQuery):
    source: Literal["self", "reviewer"] | None = None


# -- people: shares, decisions, comments, mentor meetings --------------------------------------

ShareRole = Literal["mentor", "supervisor", "program_leader"]
ShareScope = Literal["read", "comment", "verify", "certify"]
GranteeKind = Literal["account", "link"]
CommentPart = Literal["challenge", "actions", "results", "lessons_learned"]
ResourceId = Id
Token = Annotated[str, Field(min_length=1, max_length=200)]
# A comment or meeting note: stripped, so it must hold a character that is neither
# whitespace nor a control character; line breaks and tabs are allowed (found by fuzzing:
# the document allowed the control characters the server refuses).
_NOTE_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
NOTE_PATTERN = f"^[^{_NOTE_CONTROL}]*[^{_NOTE_CONTROL}{STRIPPED}][^{_NOTE_CONTROL}]*$"
Note = Annotated[
    str,
    Field(min_length=1, max_length=10_000, json_schema_extra={"pattern": NOTE_PATTERN}),
    AfterValidator(_text),
]


class ShareCreate(RequestModel):
    """Grant a person access to one report (``report_id``) or the whole PER record (none)."""

    rules = (
        Rule(
            "scope",
            "fits the role and the report's route: `verify` is a supervisor's, on EVR; "
            "`certify` a program leader's, on PPR",
        ),
        Rule("expires_at", "in the future and within 400 days"),
    )

    report_id: ResourceId | None = None
    role: ShareRole
    scope: ShareScope
    grantee_kind: GranteeKind
    email: Email = Field(description="Where the invitation or the link is mailed.")
    expires_at: IsoDateTime = Field(
        description="When the access ends (at most 400 days ahead), with its time zone."
    )


class ShareAccept(RequestModel):
    token: Token


class Decision(RequestModel):
    """A supervisor's (EVR) or program leader's (PPR) decision on the current version."""

    rules = (Rule("comment", "required when returning"),)

    decision: Literal["approve", "return"] = Field(
        description="`approve` verifies (EVR) or certifies (PPR); `return` sends it back."
    )
    comment: Note | None = Field(default=None, description="Required when returning.")


class CommentCreate(RequestModel):
    rules = (
        Rule("mentions.*", "the candidate or a share of the same report"),
        Rule("parent_id", "a comment of the same experience"),
    )

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
    rules = (Rule("meeting_date", "not in the future"),)

    meeting_date: IsoDate
    topics: Note
    concerns: Note | None = None
    next_steps: Note | None = None
