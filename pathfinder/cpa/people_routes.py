"""``/api/v1/cpa/...`` for the people around a candidate: shares, verification, comments,
mentor meetings. Parse, authorise, call the service, serialise.

Three audiences, three path families:

* the candidate (``@requires("user")``, their own data only): ``/cpa/shares``,
  ``/cpa/reports/{id}/complete|verification``, ``/cpa/experiences/{id}/comments``,
  ``/cpa/comments/{id}/resolve``, ``/cpa/meetings``;
* an account grantee (``@requires("user")``): ``/cpa/shared/{share_id}/...``, where the
  share must be one the caller accepted;
* a link grantee (``@public``: the link token is the credential): ``/cpa/links/{token}/...``.

The two grantee families are the same operations: each is declared once
(:func:`grantee_operation`) and registered under both prefixes. A share that is not the
caller's, or a token that opens nothing, is 404; a revoked or expired share is 410.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from pathfinder.api.contract import ResponseSpec, contract
from pathfinder.api.ratelimit import enforce_limit
from pathfinder.api.validation import parse_body, parse_query
from pathfinder.auth.policy import public, requires
from pathfinder.auth.routes import caller
from pathfinder.cpa import experiences, grantee, meetings, sharing, verification
from pathfinder.cpa.grantee import GrantKey
from pathfinder.cpa.paging import CpaPageQuery
from pathfinder.cpa.responses import (
    CpaComment,
    CpaCommentThread,
    CpaDecisionResult,
    CpaExperience,
    CpaGrantedShare,
    CpaMentorMeeting,
    CpaPage,
    CpaShare,
    CpaShareAccess,
    CpaShareCreated,
    CpaSharedReport,
    CpaShareSummary,
    CpaVerification,
)
from pathfinder.cpa.routes import body_for, query_for
from pathfinder.cpa.schemas import (
    CommentCreate,
    CommentResolve,
    Decision,
    MeetingCreate,
    ShareAccept,
    ShareCreate,
)

bp = Blueprint("cpa_people", __name__)

SHARES = ("cpa-shares",)
SHARED = ("cpa-shared-with-me",)
VERIFY = ("cpa-verification",)
COMMENTS = ("cpa-comments",)
MEETINGS = ("cpa-mentor-meetings",)

ACCOUNT_PREFIX = "/cpa/shared/<id:share_id>"
LINK_PREFIX = "/cpa/links/<token:token>"
ACCOUNT_NOTE = "\n\nAs the account that accepted share `share_id`."
# One counter per address for every link operation: a token guessed on any of them counts.
LINK_LIMIT = "RATELIMIT_SHARE_LINK"
LINK_LIMIT_SCOPE = "cpa.share_link"
LINK_NOTE = (
    "\n\nAs the holder of a link share: `token` is the link's token. A token that opens "
    "nothing is 404, a revoked or expired share 410. Link requests are rate-limited per "
    "client address (`RATELIMIT_SHARE_LINK`, 300 a minute by default): over it, 429 "
    "with `Retry-After`."
)


def grantee_operation(
    rule: str,
    method: str,
    *,
    responses: dict[int, ResponseSpec],
    tags: tuple[str, ...],
    query: Any = None,
    body: Any = None,
) -> Callable[[Callable[..., tuple[Any, int]]], Callable[..., tuple[Any, int]]]:
    """Register ``handler(key, **path)`` as an account-share and a link-share operation."""

    def decorate(handler: Callable[..., tuple[Any, int]]) -> Callable[..., tuple[Any, int]]:
        doc = handler.__doc__ or ""

        def account_view(share_id: str, **path: str) -> ResponseReturnValue:
            answer, status = handler(GrantKey(principal=caller(), share_id=share_id), **path)
            return (jsonify(answer), status) if status != 204 else ("", 204)

        def link_view(token: str, **path: str) -> ResponseReturnValue:
            enforce_limit(LINK_LIMIT, scope=LINK_LIMIT_SCOPE)
            answer, status = handler(GrantKey(token=token), **path)
            return (jsonify(answer), status) if status != 204 else ("", 204)

        for view, suffix, prefix, policy, note in (
            (account_view, "account", ACCOUNT_PREFIX, requires("user"), ACCOUNT_NOTE),
            (link_view, "link", LINK_PREFIX, public, LINK_NOTE),
        ):
            view.__name__ = f"{handler.__name__}_{suffix}"
            view.__qualname__ = view.__name__
            view.__doc__ = doc + note
            declared = contract(query=query, body=body, responses=responses, tags=tags)(
                policy(view)
            )
            bp.add_url_rule(
                prefix + rule, endpoint=view.__name__, view_func=declared, methods=[method]
            )
        return handler

    return decorate


# -- the candidate: shares and who saw what ----------------------------------------------------


@bp.get("/cpa/shares")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaShare]}, tags=SHARES)
def list_shares() -> ResponseReturnValue:
    """My shares, newest first, with their state now (pending, active, expired, revoked)."""
    return jsonify(sharing.list_shares(caller(), parse_query(CpaPageQuery))), 200


@bp.post("/cpa/shares")
@requires("user")
@contract(body=ShareCreate, responses={201: CpaShareCreated}, tags=SHARES)
def create_share() -> ResponseReturnValue:
    """Share one report (`report_id`) or my whole PER record with a mentor, supervisor or
    program leader, with a scope and an expiry.

    An `account` share mails an invitation the person accepts while signed in; a `link`
    share mails a link whose token is answered here once.
    """
    return jsonify(sharing.create_share(caller(), parse_body(ShareCreate))), 201


@bp.get("/cpa/shares/<id:share_id>")
@requires("user")
@contract(responses={200: CpaShare}, tags=SHARES)
def get_share(share_id: str) -> ResponseReturnValue:
    """One of my shares."""
    return jsonify(sharing.get_share(caller(), share_id)), 200


@bp.post("/cpa/shares/<id:share_id>/revoke")
@requires("user")
@contract(responses={200: CpaShare}, tags=SHARES)
def revoke_share(share_id: str) -> ResponseReturnValue:
    """End a share now: the next request through it is refused (410). Repeating is harmless."""
    return jsonify(sharing.revoke_share(caller(), share_id)), 200


@bp.get("/cpa/shares/<id:share_id>/access")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaShareAccess]}, tags=SHARES)
def share_access(share_id: str) -> ResponseReturnValue:
    """Who saw what, and did what, through this share; newest first."""
    principal = caller()
    query = query_for(CpaPageQuery, lambda: sharing.share_exists(principal, share_id))
    return jsonify(sharing.list_access(principal, query, share_id)), 200


@bp.get("/cpa/share-access")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaShareAccess]}, tags=SHARES)
def all_share_access() -> ResponseReturnValue:
    """Who saw what through any of my shares; newest first."""
    return jsonify(sharing.list_access(caller(), parse_query(CpaPageQuery))), 200


# -- an account grantee: invitations and what was shared with me -------------------------------


@bp.post("/cpa/share-invitations/accept")
@requires("user")
@contract(body=ShareAccept, responses={200: CpaGrantedShare}, tags=SHARED)
def accept_share() -> ResponseReturnValue:
    """Accept a share mailed to the address of my account (the token is spent)."""
    return jsonify(sharing.accept_invitation(caller(), parse_body(ShareAccept).token)), 200


@bp.get("/cpa/shared-with-me")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaGrantedShare]}, tags=SHARED)
def shared_with_me() -> ResponseReturnValue:
    """Shares I accepted; use their ids under `/cpa/shared/{share_id}`."""
    return jsonify(sharing.shared_with_me(caller(), parse_query(CpaPageQuery))), 200


# -- the candidate: completion, verification, comments, meetings -------------------------------


@bp.post("/cpa/reports/<id:report_id>/complete")
@requires("user")
@contract(responses={200: CpaVerification}, tags=VERIFY)
def complete_report(report_id: str) -> ResponseReturnValue:
    """Mark my report completed (PERT's New -> Completed), ready for verification."""
    return jsonify(verification.complete_report(caller(), report_id)), 200


@bp.get("/cpa/reports/<id:report_id>/verification")
@requires("user")
@contract(responses={200: CpaVerification}, tags=VERIFY)
def report_verification(report_id: str) -> ResponseReturnValue:
    """My report's PERT status and each current experience's verification state."""
    return jsonify(verification.report_verification(caller(), report_id)), 200


@bp.get("/cpa/experiences/<id:experience_id>/comments")
@requires("user")
@contract(responses={200: CpaCommentThread}, tags=COMMENTS)
def list_comments(experience_id: str) -> ResponseReturnValue:
    """The comment thread of my experience, across its versions (private notes: mine only)."""
    return jsonify(grantee.own_comments(caller(), experience_id)), 200


@bp.post("/cpa/experiences/<id:experience_id>/comments")
@requires("user")
@contract(body=CommentCreate, responses={201: CpaComment}, tags=COMMENTS)
def add_comment(experience_id: str) -> ResponseReturnValue:
    """Comment on (or answer a comment on) my experience; mentioned people are mailed."""
    principal = caller()
    body = body_for(CommentCreate, lambda: experiences.experience_exists(principal, experience_id))
    return jsonify(grantee.own_add_comment(principal, experience_id, body)), 201


@bp.post("/cpa/comments/<id:comment_id>/resolve")
@requires("user")
@contract(body=CommentResolve, responses={200: CpaComment}, tags=COMMENTS)
def resolve_comment(comment_id: str) -> ResponseReturnValue:
    """Mark a comment on my experience resolved (`true`) or open again (`false`)."""
    principal = caller()
    body = body_for(CommentResolve, lambda: grantee.own_comment_exists(principal, comment_id))
    return jsonify(grantee.own_resolve_comment(principal, comment_id, body)), 200


@bp.get("/cpa/meetings")
@requires("user")
@contract(query=CpaPageQuery, responses={200: CpaPage[CpaMentorMeeting]}, tags=MEETINGS)
def list_meetings() -> ResponseReturnValue:
    """The meetings my mentors recorded, newest first."""
    return jsonify(meetings.list_meetings(caller(), parse_query(CpaPageQuery))), 200


@bp.post("/cpa/meetings/<id:meeting_id>/acknowledge")
@requires("user")
@contract(responses={200: CpaMentorMeeting}, tags=MEETINGS)
def acknowledge_meeting(meeting_id: str) -> ResponseReturnValue:
    """Acknowledge my mentor's record of a meeting."""
    return jsonify(meetings.acknowledge(caller(), meeting_id)), 200


# -- a grantee, by account share or by link ----------------------------------------------------


@grantee_operation("", "GET", responses={200: CpaShareSummary}, tags=SHARED)
def shared_summary(key: GrantKey) -> tuple[Any, int]:
    """What was shared with me: who, the role and scope, until when, and the reports."""
    return grantee.summary(key), 200


@grantee_operation("/reports/<id:report_id>", "GET", responses={200: CpaSharedReport}, tags=SHARED)
def shared_report(key: GrantKey, report_id: str) -> tuple[Any, int]:
    """A shared report with its PERT status and each experience's verification state."""
    return grantee.get_report(key, report_id), 200


@grantee_operation(
    "/reports/<id:report_id>/experiences",
    "GET",
    query=CpaPageQuery,
    responses={200: CpaPage[CpaExperience]},
    tags=SHARED,
)
def shared_experiences(key: GrantKey, report_id: str) -> tuple[Any, int]:
    """The current version of each experience of a shared report, with its text."""
    query = query_for(CpaPageQuery, lambda: grantee.report_reachable(key, report_id))
    return grantee.list_experiences(key, report_id, query), 200


@grantee_operation(
    "/experiences/<id:experience_id>", "GET", responses={200: CpaExperience}, tags=SHARED
)
def shared_experience(key: GrantKey, experience_id: str) -> tuple[Any, int]:
    """One version of an experience of a shared report."""
    return grantee.get_experience(key, experience_id), 200


@grantee_operation(
    "/experiences/<id:experience_id>/decision",
    "POST",
    body=Decision,
    responses={200: CpaDecisionResult},
    tags=VERIFY,
)
def shared_decision(key: GrantKey, experience_id: str) -> tuple[Any, int]:
    """Verify (supervisor, EVR) or certify (program leader, PPR) the current version of an
    experience of a completed report, or return it with a comment."""
    body = body_for(Decision, lambda: grantee.experience_reachable(key, experience_id))
    return grantee.decide(key, experience_id, body), 200


@grantee_operation(
    "/experiences/<id:experience_id>/comments",
    "GET",
    responses={200: CpaCommentThread},
    tags=COMMENTS,
)
def shared_comments(key: GrantKey, experience_id: str) -> tuple[Any, int]:
    """The comment thread of a shared experience (other people's private notes never show)."""
    return grantee.list_comments(key, experience_id), 200


@grantee_operation(
    "/experiences/<id:experience_id>/comments",
    "POST",
    body=CommentCreate,
    responses={201: CpaComment},
    tags=COMMENTS,
)
def shared_add_comment(key: GrantKey, experience_id: str) -> tuple[Any, int]:
    """Comment on a shared experience (comment scope or above)."""
    body = body_for(CommentCreate, lambda: grantee.experience_reachable(key, experience_id))
    return grantee.add_comment(key, experience_id, body), 201


@grantee_operation(
    "/comments/<id:comment_id>/resolve",
    "POST",
    body=CommentResolve,
    responses={200: CpaComment},
    tags=COMMENTS,
)
def shared_resolve_comment(key: GrantKey, comment_id: str) -> tuple[Any, int]:
    """Mark a comment of a shared report resolved or open again (comment scope or above)."""
    body = body_for(CommentResolve, lambda: grantee.comment_reachable(key, comment_id))
    return grantee.resolve_comment(key, comment_id, body), 200


@grantee_operation(
    "/meetings",
    "GET",
    query=CpaPageQuery,
    responses={200: CpaPage[CpaMentorMeeting]},
    tags=MEETINGS,
)
def shared_meetings(key: GrantKey) -> tuple[Any, int]:
    """The meetings I recorded through this share (mentor shares only)."""
    query = query_for(CpaPageQuery, lambda: grantee.grant_exists(key))
    return grantee.list_meetings(key, query), 200


@grantee_operation(
    "/meetings", "POST", body=MeetingCreate, responses={201: CpaMentorMeeting}, tags=MEETINGS
)
def shared_record_meeting(key: GrantKey) -> tuple[Any, int]:
    """Record a meeting with the candidate: date, topics, concerns, agreed next steps
    (mentor shares with the comment scope)."""
    body = body_for(MeetingCreate, lambda: grantee.grant_exists(key))
    return grantee.record_meeting(key, body), 201
