"""Request parsing with pydantic: a bad body is a 422 problem naming each bad field.

Error entries carry the field path and pydantic's message, never the submitted value (it
may be a password). Text with a NUL character (U+0000) is refused for every route before
the view runs: PostgreSQL cannot store it in text or JSON, so it would otherwise surface as
a server error deep in a write (found by the fuzzing run).
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
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


NUL = "\x00"


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested too deeply to parse is malformed input.

    ``json.loads`` raises ``RecursionError`` (not ``ValueError``) for a few thousand nested
    brackets, which Flask's ``get_json`` does not catch: a 6 KB body would be a 500 on any
    route. As a ``ValueError`` it is a 400 where a body is parsed and ignored elsewhere.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("the JSON document is nested too deeply") from exc


def _first_nul(document: Any) -> str | None:
    """The dotted path of the first string (key or value) holding NUL, or None.

    Iterative, so a deeply nested document cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if NUL in str(key):
                    return path or "body"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), item)
                for index, item in enumerate(value)
            )
    return None


def _nul_problem(field: str) -> ValidationProblem:
    message = "text may not contain the NUL character (U+0000)"
    return ValidationProblem(
        "The request contains text that cannot be stored.",
        errors=[{"field": field, "message": message}],
    )


def reject_nul_characters() -> None:
    """``before_request``: a path value, query value or JSON string with NUL is a 422.

    An unknown route or method keeps its 404/405: routing errors are raised after the
    ``before_request`` hooks, so they are let through here.
    """
    if request.routing_exception is not None:
        return
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and NUL in value:
            raise _nul_problem(name)
    for key, value in request.args.items(multi=True):
        if NUL in key or NUL in value:
            raise _nul_problem(key.replace(NUL, "") or "query")
    if request.is_json:
        field = _first_nul(request.get_json(silent=True))
        if field is not None:
            raise _nul_problem(field)


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
