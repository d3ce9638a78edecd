"""Request parsing with pydantic: a bad body is a 422 problem naming each bad field.

Error entries carry the field path and pydantic's message, never the submitted value (it
may be a password).
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, ValidationError

from pathfinder.api.contract import contract_of
from pathfinder.api.errors import Problem

M = TypeVar("M", bound=BaseModel)


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ValidationProblem(Problem):
    status = 422
    slug = "validation-error"
    title = "The request is not valid"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """``[{"field": "a.b", "message": ...}]`` from a pydantic error, without input values."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": field, "message": error["msg"]})
    return errors


def _check_declared(kind: str, model: type[BaseModel]) -> None:
    """With ``CHECK_CONTRACTS``: the model parsed must be the one the route documents."""
    if not current_app.config.get("CHECK_CONTRACTS"):
        return
    declared = contract_of(current_app.view_functions.get(request.endpoint or ""))
    if declared is not None and getattr(declared, kind) is not model:
        raise AssertionError(
            f"{request.endpoint} parses its {kind} as {model.__name__} but its contract "
            f"declares {getattr(declared, kind)!r}"
        )


def parse_body(model: type[M]) -> M:
    """The JSON body as ``model``; 400 when it is not a JSON object, 422 when invalid."""
    _check_declared("body", model)
    data: Any = request.get_json(silent=True)
    if data is None and request.content_length in (None, 0) and not request.data:
        data = {}
    if not isinstance(data, dict):
        raise Problem(
            "The request body must be a JSON object (Content-Type: application/json).",
            slug="malformed-body",
            title="Malformed request body",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationProblem(
            "One or more fields are invalid.", errors=field_errors(exc)
        ) from exc


def parse_query(model: type[M]) -> M:
    """The query string as ``model`` (repeated keys become lists); 422 when invalid."""
    _check_declared("query", model)
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        data[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationProblem(
            "One or more query parameters are invalid.", errors=field_errors(exc)
        ) from exc
