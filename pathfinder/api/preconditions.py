"""``ETag`` and ``If-Match``: a PATCH or PUT based on a stale read is refused with a 412.

Two tabs editing one experience: the second save silently overwrites the first. Every
single resource that can be changed answers its reads and writes with a strong ``ETag`` (a
hash of its representation, as its GET answers it), and a PATCH/PUT sent with
``If-Match`` is applied only if the resource's current tag is one of those listed (``*``:
it exists). Without ``If-Match`` a write is unconditional, as before.

The check and the write must be one step, or two writers holding the same tag could both
pass: a conditional write holds a named lock on the resource's path
(:mod:`pathfinder.db.named_locks`, shared by every worker and node) from before the check
until its own transaction has committed. Unconditional writers do not take it; they asked
for no guarantee.

Which representation a write is compared with: the GET of the same path; for
``PUT /admin/users/{id}/role`` and ``/group``, the user they change.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.routing import Rule

from pathfinder.api.errors import NotFound, Problem

WRITE_METHODS = ("PATCH", "PUT")
LOCK_WAIT_SECONDS = 10.0
_READER_ATTRIBUTE = "_pathfinder_precondition_reader"
# A write whose resource is read at another path: (write rule suffix, reader rule suffix).
_READ_ELSEWHERE = {
    "/admin/users/<id:user_id>/role": "/admin/users/<id:user_id>",
    "/admin/users/<id:user_id>/group": "/admin/users/<id:user_id>",
}


class PreconditionFailed(Problem):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


def etag_of(body: bytes) -> str:
    """The strong entity tag of a representation: its SHA-256, 32 hex digits, quoted."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str, current: str | None) -> bool:
    """RFC 9110 If-Match: ``*`` matches any current representation; tags compare strongly."""
    if current is None:
        return False
    candidates = [part.strip() for part in header.split(",") if part.strip()]
    return "*" in candidates or current in candidates


def _current_tag(reader: Callable[..., Any], view_args: dict[str, Any]) -> str | None:
    """The resource's tag now, from its reader; None when it does not exist."""
    try:
        response = current_app.make_response(reader(**view_args))
    except NotFound:
        return None
    if response.status_code != 200:
        return None
    return etag_of(response.get_data())


def _validate_request(view: Callable[..., Any]) -> None:
    """Parse the request as the view's contract declares (its problems are raised here)."""
    from pathfinder.api.contract import contract_of
    from pathfinder.api.validation import parse_body, parse_query

    declared = contract_of(view)
    if declared is None:
        return
    if isinstance(declared.query, type):
        parse_query(declared.query)
    if isinstance(declared.body, type):
        parse_body(declared.body)


def _conditional(view: Callable[..., Any], reader: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def write(**view_args: Any) -> Any:
        wanted = request.headers.get("If-Match")
        if wanted is None:
            return view(**view_args)
        # A request that is not valid is a 422 whatever its If-Match: RFC 9110 evaluates
        # preconditions once the request itself has passed its checks (section 13.2.1).
        _validate_request(view)
        from pathfinder.db import get_database
        from pathfinder.db.named_locks import named_lock

        key = "etag-" + hashlib.sha256(request.path.encode("utf-8")).hexdigest()[:40]
        with named_lock(get_database(), key, wait_seconds=LOCK_WAIT_SECONDS):
            current = _current_tag(reader, view_args)
            if not _matches(wanted, current):
                if current is None:
                    raise NotFound("No such resource.")
                raise PreconditionFailed(
                    "The resource changed since the representation your If-Match names; "
                    "read it again (its ETag is in this answer) and reapply your change.",
                    headers={"ETag": current},
                )
            return current_app.make_response(view(**view_args))

    setattr(write, _READER_ATTRIBUTE, reader)
    return write


def _tag_answer(response: Response) -> Response:
    """Give a changeable resource's reads and successful writes their ``ETag``."""
    if response.status_code != 200 or "ETag" in response.headers:
        return response
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method == "GET" and getattr(view, _READER_ATTRIBUTE, None) is view:
        response.headers["ETag"] = etag_of(response.get_data())
    elif request.method in WRITE_METHODS and view is not None:
        reader = getattr(view, _READER_ATTRIBUTE, None)
        if reader is not None:
            tag = _current_tag(reader, dict(request.view_args or {}))
            if tag is not None:
                response.headers["ETag"] = tag
    return response


def _readers(app: Flask) -> dict[str, Rule]:
    by_rule: dict[str, Rule] = {}
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()):
            by_rule[rule.rule] = rule
    return by_rule


def init_app(app: Flask) -> None:
    """Make every PATCH/PUT of a single resource conditional; call after the blueprints."""
    readers = _readers(app)
    for rule in list(app.url_map.iter_rules()):
        if not set(rule.methods or ()) & set(WRITE_METHODS):
            continue
        read_rule = _reader_rule(rule.rule, readers)
        if read_rule is None:
            raise RuntimeError(f"{rule.rule}: a PATCH/PUT needs a GET to compare If-Match with")
        reader = app.view_functions[read_rule.endpoint]
        setattr(reader, _READER_ATTRIBUTE, reader)
        app.view_functions[rule.endpoint] = _conditional(app.view_functions[rule.endpoint], reader)
    app.after_request(_tag_answer)


def _reader_rule(rule: str, readers: dict[str, Rule]) -> Rule | None:
    for suffix, read_suffix in _READ_ELSEWHERE.items():
        if rule.endswith(suffix):
            return readers.get(rule[: -len(suffix)] + read_suffix)
    return readers.get(rule)


def describe(operation: dict[str, Any], view: Callable[..., Any], method: str) -> None:
    """Document ``If-Match``, the 412 and the ``ETag`` header where they apply."""
    reader = getattr(view, _READER_ATTRIBUTE, None)
    if reader is None:
        return
    etag = {
        "ETag": {
            "description": "Strong tag of the resource's current representation; send it "
            "back in `If-Match` to make a change conditional.",
            "schema": {"type": "string"},
        }
    }
    responses = operation.setdefault("responses", {})
    if "200" in responses:
        responses["200"].setdefault("headers", {}).update(etag)
    if method.upper() in WRITE_METHODS:
        operation.setdefault("parameters", []).append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "Apply the change only if the resource's current `ETag` is "
                "one of these (or `*`: it exists); otherwise 412 with the current `ETag`.",
                "schema": {"type": "string"},
            }
        )
        responses.setdefault("412", {"description": "The resource changed since that ETag."})
