"""Turning a posted form into a service's request model, and a problem into field errors.

The console validates with the API's own pydantic models, so a field that is too long or a
value out of range is refused by the same rule, and shows its message beside the field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pathfinder.api.errors import Problem
from pathfinder.api.validation import (
    RequestModel,
    ValidationProblem,
    field_errors,
    request_errors,
)

M = TypeVar("M", bound=BaseModel)


class FormErrors(Exception):
    """A form's errors by field name (``""``: about the whole form)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def text(form: Any, name: str) -> str | None:
    """A field's trimmed text, None when empty."""
    value = (form.get(name) or "").strip()
    return value or None


def parse(model: type[M], data: dict[str, Any], *, prefix: str = "") -> M:
    """``model`` from form data; :class:`FormErrors` naming the fields otherwise.

    An API request model is checked as the API checks it, rules included
    (:func:`pathfinder.api.validation.request_errors`), leniently: a form posts text.
    """
    if issubclass(model, RequestModel):
        parsed, problems = request_errors(model, data, strict=False)
        if not problems:
            return parsed  # type: ignore[return-value]
    else:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = field_errors(exc)
    errors: dict[str, str] = {}
    for item in problems:
        field = item["field"].removeprefix(prefix) or ""
        errors.setdefault(field, item["message"])
    raise FormErrors(errors)


def problem_errors(problem: Problem, *, prefix: str = "") -> dict[str, str]:
    """A service's refusal as form errors: per field when it names fields."""
    errors: dict[str, str] = {}
    if isinstance(problem, ValidationProblem):
        for item in problem.extensions.get("errors") or []:
            field = str(item.get("field", "")).removeprefix(prefix)
            errors.setdefault(field, str(item.get("message", "invalid")))
    field = problem.extensions.get("field")
    if isinstance(field, str):
        errors.setdefault(field, problem.detail or problem.title)
    if not errors:
        errors[""] = problem.detail or problem.title
    return errors


def confirmed(form: Any) -> None:
    """A destructive action needs its confirmation box ticked (works without JavaScript)."""
    if form.get("confirm") != "yes":
        raise FormErrors({"confirm": "Tick the box to confirm."})
