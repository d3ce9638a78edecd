"""What ``/api/v1/cpa/...`` answers: one response model per serialiser shape.

The serialisers (``report_json``, ``experience_json``, ``submission_json``... in the
service modules) build plain dicts; these models state those shapes for the OpenAPI
document and, with ``CHECK_CONTRACTS`` on, every answer in the test suite is checked
against them, so a serialiser that gains, loses or retypes a field fails a test instead of
silently changing the API. Where a serialiser answers differently on different routes (a
report in a list has no warnings, one read alone has them and its experience count) each
shape is its own model rather than one model with optional fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import ConfigDict, Field

from pathfinder.api.contract import Page, ResponseModel, SealedItem
from pathfinder.cpa.schemas import Route, TimeCategory
from pathfinder.schema.shared.cpa import (
    APPROVAL_STATUSES,
    HISTORY_ACTIONS,
    MILESTONE_SOURCES,
    REPORT_STATUSES,
    SUBMISSION_STATUSES,
    SUBMISSION_TYPES,
)

T = TypeVar("T")

ReportStatus = Literal["draft", "submitted", "reviewed", "accepted", "revision_requested"]
ApprovalStatus = Literal["draft", "submitted", "approved", "rejected", "revision_requested"]
MilestoneSource = Literal["self", "reviewer"]
SubmissionType = Literal["draft", "final", "revision"]
SubmissionStatus = Literal["pending", "accepted", "rejected", "needs_changes", "withdrawn"]
HistoryAction = Literal[
    "created", "submitted", "reviewed", "accepted", "rejected", "revised", "withdrawn"
]
DraftStatus = Literal["draft", "promoted"]
# The Literals are spelled out for the type checker; they must name what the CHECKs allow.
for _literal, _allowed in (
    (ReportStatus, REPORT_STATUSES),
    (ApprovalStatus, APPROVAL_STATUSES),
    (MilestoneSource, MILESTONE_SOURCES),
    (SubmissionType, SUBMISSION_TYPES),
    (SubmissionStatus, SUBMISSION_STATUSES),
    (HistoryAction, HISTORY_ACTIONS),
):
    if set(get_args(_literal)) != set(_allowed):
        raise RuntimeError("cpa responses are out of step with pathfinder.schema.shared.cpa")

LEVEL = "Proficiency level 0, 1 or 2."


class CpaPage(Page[T], Generic[T]):
    """One page of a CPA list (``limit`` is the page size that was applied)."""

    limit: int = Field(description="The page size applied (default 20).")


class CpaNotice(ResponseModel):
    """A warning for the candidate: it never blocks anything and says what to do."""

    code: Literal[
        "period_length",
        "period_overlap",
        "period_gap",
        "report_overdue",
        "duration_suspended",
        "duration_suspension_risk",
        "time_away_extends",
        "mentor_meeting_due",
        "mentor_meeting_overdue",
    ]
    message: str
    on: date | None = Field(description="The day the warning is about, when it has one.")
    ref: str | None = Field(description="The id of the report it is about, when it has one.")


# -- framework ---------------------------------------------------------------------------------


class CpaLevelDescriptors(ResponseModel):
    """Our own-words hint of what each proficiency level looks like for one competency."""

    model_config = ConfigDict(populate_by_name=True)

    level_0: str | None = Field(alias="0")
    level_1: str | None = Field(alias="1")
    level_2: str | None = Field(alias="2")


class CpaProficiencyLevels(ResponseModel):
    """What proficiency levels 0, 1 and 2 mean across the framework."""

    model_config = ConfigDict(populate_by_name=True)

    level_0: str = Field(alias="0")
    level_1: str = Field(alias="1")
    level_2: str = Field(alias="2")


class CpaCompetency(ResponseModel):
    code: str = Field(description="PERT's code, e.g. `FR1` or `EN2`.")
    name: str
    aliases: list[str]
    levels: CpaLevelDescriptors
    guiding_questions: list[str] = Field(
        description="The competency's focus question first, then the general ones."
    )


class CpaTechnicalArea(ResponseModel):
    code: str = Field(description="Area code, e.g. `FR` (financial reporting).")
    name: str
    sub_competencies: list[CpaCompetency]


class CpaFramework(ResponseModel):
    """A versioned rule set: its thresholds, areas, competencies and level descriptors."""

    framework_version: str = Field(description="e.g. `PER-2021`.")
    name: str
    description: str | None
    effective_from: date
    effective_until: date | None = Field(description="Exclusive; null while in force.")
    source_url: str | None
    rules: dict[str, Any] = Field(
        description="The framework's thresholds (months required, core/depth/breadth...)."
    )
    proficiency_levels: CpaProficiencyLevels
    technical_areas: list[CpaTechnicalArea]
    enabling_competencies: list[CpaCompetency]


# -- progress and milestones -------------------------------------------------------------------


class CpaDuration(ResponseModel):
    """Months of reported experience counted toward the requirement (calendar months)."""

    per_start: date | None = Field(description="PER start date (default: first period's start).")
    months_counted: float
    months_required: float = Field(description="Base months plus the time-away extension.")
    base_months_required: float
    extension_months: float = Field(description="Months added for time away beyond the allowance.")
    months_remaining: float
    months_suspended: float = Field(description="Months not counted under the EVR 12-month rule.")
    time_away_days: int
    time_away_allowance_days: int
    excess_time_away_days: int
    met: bool
    completion_date: date | None = Field(
        description="Last day of the required experience: reached, or projected assuming "
        "continuous work (null while suspended with no end in sight)."
    )
    completion_projected: bool


class CpaTwelveMonthRule(ResponseModel):
    """The EVR 12-month rule: enough level-1 sub-competencies when 12 months are counted."""

    applies: bool = Field(description="True when the candidate is on the EVR route then.")
    review_date: date | None = Field(description="First day after the first 12 counted months.")
    projected: bool = Field(description="True when the reported periods do not reach it yet.")
    required: int
    count_now: int
    met_on: date | None
    suspended: bool
    suspended_from: date | None
    suspended_until: date | None


class CpaCoreStatus(ResponseModel):
    met: bool
    areas: list[str]
    required: int
    level: int
    count: int
    codes: list[str]


class CpaDepthArea(ResponseModel):
    area_code: str
    sub_competencies: int = Field(description="How many sub-competencies the area has.")
    at_level_1: int
    at_level_2: int
    met: bool
    missing: list[str] = Field(description="Codes not yet at level 1.")


class CpaDepthStatus(ResponseModel):
    met: bool
    required_at_level_2: int
    met_areas: list[str]
    areas: list[CpaDepthArea]


class CpaBreadthStatus(ResponseModel):
    met: bool
    required_at_level_1: int
    required_at_level_2: int
    at_level_1: int
    at_level_2: int
    codes_at_level_1: list[str]
    codes_at_level_2: list[str]


class CpaTechnicalStatus(ResponseModel):
    levels: dict[str, int] = Field(description="Highest level shown per technical code.")
    core: CpaCoreStatus
    depth: CpaDepthStatus
    breadth: CpaBreadthStatus
    met: bool


class CpaEnablingStatus(ResponseModel):
    met: bool
    required_level: int
    levels: dict[str, int] = Field(description="Highest level shown per enabling code.")
    missing: list[str]


class CpaTechnicalBySource(ResponseModel):
    """Self-assessed and reviewer-confirmed levels, evaluated apart."""

    self: CpaTechnicalStatus
    reviewer: CpaTechnicalStatus


class CpaEnablingBySource(ResponseModel):
    """Self-assessed and reviewer-confirmed levels, evaluated apart."""

    self: CpaEnablingStatus
    reviewer: CpaEnablingStatus


class CpaDeadline(ResponseModel):
    kind: Literal["next_report", "evr_12_month_review", "mentor_meeting"]
    due: date
    overdue: bool
    projected: bool
    description: str


class CpaProgressPeriod(ResponseModel):
    report_id: str
    route: Route
    period_start: date
    period_end: date
    leave_days: int
    status: ReportStatus


class CpaProgress(ResponseModel):
    """The whole progress picture toward the PER on ``as_of``."""

    framework_version: str
    as_of: date
    duration: CpaDuration
    evr_twelve_month: CpaTwelveMonthRule
    technical: CpaTechnicalBySource
    enabling: CpaEnablingBySource
    deadlines: list[CpaDeadline]
    warnings: list[CpaNotice]
    requirement_met: bool = Field(
        description="Duration, technical and enabling all met on self-assessed levels."
    )
    periods: list[CpaProgressPeriod]
    hours_note: str


class CpaMilestone(ResponseModel):
    """The first time a competency reached a new highest level, per source."""

    id: str
    framework_version: str
    sub_competency_code: str
    previous_level: int | None
    achieved_level: int = Field(description=LEVEL)
    achieved_on: date
    evidence_count: int = Field(description="Experiences showing the level or higher.")
    source: MilestoneSource
    hours_accumulated: float | None = Field(
        description="Hours logged on those experiences when the level was reached (null on "
        "milestones recorded before it was kept)."
    )
    key_experiences: list[str] = Field(
        description="Ids of the experience versions that showed the level when it was reached."
    )
    created_at: datetime


# -- reports -----------------------------------------------------------------------------------


class CpaReport(ResponseModel):
    """A report period (as listed: without warnings)."""

    id: str
    route: Route
    framework_version: str
    employer_name: str
    position_title: str
    period_start: date
    period_end: date = Field(description="Inclusive.")
    period_months: float = Field(description="Length in calendar months, both ends inclusive.")
    hours_worked: float | None
    leave_days: int | None
    submission_deadline: date | None = Field(
        description="When this period must be reported by; null when not set."
    )
    status: ReportStatus
    version: int = Field(description="Optimistic lock: send it back with a change.")
    submitted_at: datetime | None
    reviewed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CpaReportChecked(CpaReport):
    """A report with the warnings about its period (length, gaps before and after)."""

    warnings: list[CpaNotice]


class CpaReportDetail(CpaReportChecked):
    experience_count: int = Field(description="Current experiences in the report.")


# -- experiences -------------------------------------------------------------------------------


class CpaPartCounts(ResponseModel):
    challenge: int
    actions: int
    results: int
    lessons_learned: int


class CpaCharacterCounts(ResponseModel):
    """A write-up's characters (Unicode code points, a line break is one) and words."""

    parts: CpaPartCounts
    total: int
    words: int
    limit: int = Field(description="The configured limit on the total per response.")
    remaining: int = Field(description="Negative when over the limit.")
    over_limit: bool


class CpaExperience(SealedItem):
    """One version of an experience write-up, its texts opened."""

    id: str = Field(description="The id of this version.")
    report_id: str
    framework_version: str
    sub_competency_code: str
    sub_competency_name: str | None
    experience_title: str
    experience_start_date: date
    experience_end_date: date | None
    duration_days: int | None = Field(description="Days, both ends inclusive; null if ongoing.")
    proficiency_level: int = Field(description=LEVEL)
    approved_level: int | None = Field(description="The level the reviewer confirmed.")
    approval_status: ApprovalStatus
    challenge: str | None
    actions: str | None
    results: str | None
    lessons_learned: str | None
    character_count: int
    word_count: int
    counts: CpaCharacterCounts
    version_number: int
    previous_version_id: str | None
    is_current_version: bool
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CpaExperienceDetail(CpaExperience):
    current_version_id: str = Field(description="The experience's current version.")


class CpaExperienceVersion(ResponseModel):
    """A version in the history of an experience: metadata and counts, no texts."""

    id: str
    version_number: int
    previous_version_id: str | None
    is_current_version: bool
    deleted_at: datetime | None
    sub_competency_code: str
    experience_title: str
    proficiency_level: int
    character_count: int
    word_count: int
    approval_status: ApprovalStatus
    created_at: datetime


# -- activities and time -----------------------------------------------------------------------


class CpaActivity(ResponseModel):
    """One activity of an experience's breakdown."""

    id: str
    experience_id: str = Field(description="The experience's current version.")
    activity_type: str
    activity_description: str | None
    start_date: date | None
    end_date: date | None
    hours_spent: float | None
    competencies_demonstrated: list[str]
    deliverables: list[str]
    business_impact: str | None
    sort_order: int
    created_at: datetime
    updated_at: datetime


class CpaTimeTotals(ResponseModel):
    """All the time logged on the experience."""

    hours: float
    entries: int
    by_category: dict[TimeCategory, float] = Field(description="Hours per activity category.")
    billable_hours: float = Field(description="Hours of entries marked billable.")
    cpa_eligible_hours: float = Field(description="Hours that count toward CPA experience.")


class CpaTimeEntry(ResponseModel):
    id: str
    experience_id: str
    entry_date: date
    hours: float
    activity_category: TimeCategory
    description: str | None
    is_billable: bool
    is_cpa_eligible: bool
    created_at: datetime
    updated_at: datetime


class CpaTimeEntryChanged(CpaTimeEntry):
    """A time entry with the experience's totals after the change."""

    totals: CpaTimeTotals


class CpaTimeEntryPage(CpaPage[CpaTimeEntry]):
    totals: CpaTimeTotals


# -- submissions -------------------------------------------------------------------------------


class CpaSubmissionSummary(ResponseModel):
    """A submission as listed: without its contents."""

    id: str
    report_id: str
    submission_type: SubmissionType
    status: SubmissionStatus
    report_version: int = Field(description="The report version frozen into it.")
    checksum_sha256: str = Field(description="Hex SHA-256 of the canonical JSON payload.")
    is_final: bool
    cpa_reference_number: str | None = Field(
        description="The provincial body's reference number for the filing, once recorded."
    )
    cpa_confirmation_code: str | None = Field(
        description="The body's confirmation code for the filing, once recorded."
    )
    experience_count: int | None = Field(
        description="Experiences frozen into it (null for submissions made before it was kept)."
    )
    total_word_count: int | None = Field(description="Their words, as counted when frozen.")
    submitted_at: datetime | None
    created_at: datetime


class CpaSubmissionTotals(ResponseModel):
    experiences: int
    characters: int
    words: int
    sub_competencies: list[str]


class CpaSubmittedExperience(ResponseModel):
    """An experience as frozen into a submission (the texts only in the export)."""

    id: str = Field(description="The experience version the texts are in.")
    sub_competency_code: str
    title: str
    proficiency_level: int
    character_count: int
    word_count: int


class CpaSubmission(CpaSubmissionSummary):
    """A submission with what it contains."""

    totals: CpaSubmissionTotals
    experiences: list[CpaSubmittedExperience]


class CpaSubmissionStatusChanged(CpaSubmission):
    """A submission after a recorded outcome, with its report's new status and version."""

    report_status: ReportStatus
    report_version: int = Field(description="The report's version after the change.")


class CpaSubmissionEvent(ResponseModel):
    """A status change in a submission's history."""

    id: str
    action: HistoryAction
    previous_status: SubmissionStatus | None
    new_status: SubmissionStatus
    actor_id: str | None = Field(description="Who recorded it (null once that user is gone).")
    notes: str | None
    created_at: datetime


# -- drafts ------------------------------------------------------------------------------------


class CpaDraftSummary(ResponseModel):
    """A draft as listed: without its texts."""

    id: str
    framework_version: str
    sub_competency_code: str
    proficiency_level: int
    title: str | None
    character_count: int
    word_count: int
    status: DraftStatus
    promoted_experience_id: str | None
    created_at: datetime
    updated_at: datetime


class CpaDraft(CpaDraftSummary, SealedItem):
    """A draft with its texts opened and counted (the limit is shown, never enforced)."""

    challenge: str | None
    actions: str | None
    results: str | None
    lessons_learned: str | None
    counts: CpaCharacterCounts


class CpaDraftPromotion(ResponseModel):
    draft: CpaDraft
    experience: CpaExperience


# -- people: shares, verification, comments, mentor meetings -----------------------------------

ShareRole = Literal["mentor", "supervisor", "program_leader"]
ShareScope = Literal["read", "comment", "verify", "certify"]
GranteeKind = Literal["account", "link"]
ShareState = Literal["pending", "active", "expired", "revoked"]


class CpaShare(SealedItem):
    """A share as its candidate sees it (its token is never shown again)."""

    id: str
    report_id: str | None = Field(description="None: the whole PER record.")
    role: ShareRole
    scope: ShareScope
    grantee_kind: GranteeKind
    grantee_email: str | None
    grantee_user_id: str | None = Field(description="The account that accepted it, if any.")
    state: ShareState
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class CpaShareCreated(CpaShare):
    link_token: str | None = Field(
        description="A link share's token, answered this once (also mailed to the grantee); "
        "it opens `/cpa/links/{token}`. None for an account share (the invitation is mailed)."
    )


class CpaShareAccess(ResponseModel):
    """One read or action through one of my shares: who saw what, when."""

    id: str
    share_id: str
    grantee_kind: GranteeKind
    grantee_user_id: str | None
    grantee_username: str | None
    role: ShareRole
    scope: ShareScope
    action: str = Field(
        description="read, comment, resolve, verified, certified, returned, meeting."
    )
    target_type: str
    target_id: str | None
    at: datetime


class CpaGrantedShare(ResponseModel):
    """A share as its grantee sees it."""

    id: str
    sharer_username: str
    report_id: str | None
    role: ShareRole
    scope: ShareScope
    grantee_kind: GranteeKind
    state: ShareState
    expires_at: datetime


class CpaShareSummary(ResponseModel):
    share: CpaGrantedShare
    reports: list[CpaReport] = Field(description="The reports the share covers.")


class CpaDecision(SealedItem):
    id: str
    experience_id: str = Field(description="The experience version decided on.")
    decision: Literal["verified", "certified", "returned"]
    role: ShareRole
    comment: str | None
    share_id: str | None
    decided_at: datetime


class CpaExperienceVerification(ResponseModel):
    experience_id: str = Field(description="The current version.")
    version_number: int
    sub_competency_code: str
    experience_title: str
    state: Literal["unverified", "verified", "returned", "reverification_needed"]
    last_decision: CpaDecision | None = Field(description="The decision on this version, if any.")


class CpaVerification(ResponseModel):
    """PERT's report status (new, completed, verified, reviewed) and each experience's state."""

    report_id: str
    route: Route
    pert_status: Literal["new", "completed", "verified", "reviewed"]
    completed_at: datetime | None
    experiences: list[CpaExperienceVerification]


class CpaDecisionResult(ResponseModel):
    decision: CpaDecision
    verification: CpaVerification


class CpaSharedReport(ResponseModel):
    report: CpaReport
    verification: CpaVerification


class CpaComment(SealedItem):
    id: str
    report_id: str
    experience_id: str = Field(description="The experience version it was written on.")
    part: Literal["challenge", "actions", "results", "lessons_learned"] | None
    parent_id: str | None
    author_role: Literal["candidate", "mentor", "supervisor", "program_leader"]
    share_id: str | None = Field(description="The share it was written through; None: candidate.")
    body: str | None
    mentions: list[str]
    private: bool
    resolved: bool
    resolved_at: datetime | None
    created_at: datetime


class CpaCommentThread(ResponseModel):
    items: list[CpaComment] = Field(description="Every version's comments, oldest first.")


class CpaMentorMeeting(SealedItem):
    id: str
    share_id: str | None
    meeting_date: date
    topics: str | None
    concerns: str | None
    next_steps: str | None
    acknowledged_at: datetime | None
    created_at: datetime
