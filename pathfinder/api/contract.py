"""Each route declares its contract once: query and body models, and one model per answer.

``@contract(...)`` is the single place a view states what it accepts and returns. The
OpenAPI document (:mod:`pathfinder.api.openapi`) is generated from these declarations by
spectree; :func:`pathfinder.api.validation.parse_body` refuses to parse with a model other
than the declared one; and with ``CHECK_CONTRACTS`` on (the test suite turns it on) every
answer is checked against its declared model, so the whole suite doubles as a contract test.

A view's docstring becomes its operation's summary (first line) and description (the rest),
which Swagger UI renders as Markdown: write view docstrings with single backticks (`code`),
not reST's double ones (a test walks the document for them).

Request validation stays ours (``parse_body``/``parse_query``: problem+json with field
paths), so spectree runs with ``skip_validation``: it documents, it does not intercept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from spectree import Response as SpecResponse
from spectree import SpecTree

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

CONTRACT_ATTRIBUTE = "_pathfinder_contract"


class ResponseModel(BaseModel):
    """Base of every response body: a field the model does not declare is a contract break."""

    model_config = ConfigDict(extra="forbid")


class SealedItem(ResponseModel):
    """An item with encrypted fields: names the ones that could not be decrypted, if any."""

    unreadable_fields: list[str] | None = Field(
        default=None,
        description="Present only when stored encrypted fields of this item did not decrypt "
        "(tampered with, or restored from an older copy): those fields are null (lists "
        "empty) here, the rest of the item is sound, and the failure is in the audit log.",
    )


class FieldError(ResponseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `items.0.title`.")
    message: str


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; extension members (``errors``, ``retry_after``...) allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:pathfinder:problem:<slug>` or `about:blank`.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    errors: list[FieldError] | None = None


class Page(ResponseModel, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Media:
    """A non-JSON answer (a PDF, a DOCX, a zip): only its media type is declared.

    ``alternatives`` are other media types the same status may answer with, for a route
    whose query picks the file format (a JSON, PDF or DOCX export).
    """

    media_type: str
    description: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def media_types(self) -> tuple[str, ...]:
        """Every media type this answer may have, the main one first."""
        return (self.media_type, *self.alternatives)


ResponseSpec = type[BaseModel] | Media | None


@dataclass(frozen=True)
class Rule:
    """A rule a request must keep that its JSON Schema cannot state.

    Lengths, patterns, enumerations, formats and bounds are in the schema; what is left is
    a rule across fields (``end_date`` on or after ``start_date``), relative to today, or
    against stored data (a known competency code). Each is documented with its operation's
    422 (``x-pathfinder-rules``, and the operation's description), naming the ``field`` its
    error names (``items.*.end_date`` for every item of a list).

    ``check`` (given the validated values of the fields it ``uses``) returns the error
    message when the rule is broken; it runs while the request is parsed, beside the field
    errors, so one answer names every mistake. A rule without ``check`` is enforced
    elsewhere (by a field validator, or by the service against stored data) and is listed
    here to be documented.
    """

    field: str
    says: str
    uses: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class Contract:
    """What one view accepts and answers; ``responses`` maps success statuses to bodies."""

    query: type[BaseModel] | None
    body: type[BaseModel] | Media | None
    responses: Mapping[int, ResponseSpec] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # False for an action whose every field is optional (archive, resend...): no body at all
    # then means an empty object. Otherwise a missing body is a 422 (parse_body).
    body_required: bool = True
    # Rules the service checks against stored data, beside those of the query and body
    # models (documented together with the operation's 422).
    rules: tuple[Rule, ...] = ()
    # Path parameters this operation's success answer gives a value for: parameter name ->
    # JSON pointer in the answer (``{"career_experience_id": "/id"}``). The document links
    # the operation to every operation taking that parameter (OpenAPI ``links``).
    links: Mapping[str, str] = field(default_factory=dict)


# pydantic's own rule for a ``$defs`` key (``GenerateJsonSchema.normalize_name``): a component
# must be named exactly as pydantic names the model when it is nested in another one.
_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9.\-_]")
_component_owners: dict[str, type[BaseModel]] = {}


def component_name(model: type[BaseModel]) -> str:
    """A model's name in ``components/schemas``; two different models may not share one.

    It is the key pydantic gives the model in ``$defs`` when it is nested in another model
    (``Page[ExperienceOut]`` becomes ``Page_ExperienceOut_``), so a model answered on its own
    and the same model nested in another answer are one component, not two. A clash fails
    at import time, not as one schema silently replacing another in the document.
    """
    name = _COMPONENT_NAME.sub("_", model.__name__).replace(".", "__")
    owner = _component_owners.setdefault(name, model)
    if owner is not model:
        raise RuntimeError(
            f"two models are named {name!r} in the API contract: "
            f"{owner.__module__}.{owner.__qualname__} and {model.__module__}.{model.__qualname__}"
        )
    return name


def nested_component_name(parent: str, child: str) -> str:
    """A nested model's component: its own name, whatever model it is nested in.

    spectree's default, ``Parent.Child``, copies each nested model once per parent, under
    one title, and a client generator refuses those copies as duplicate models (dropping
    every model and answer that refers to them). A model's component name is its own
    (:func:`component_name`), so one name serves every parent; a model seen only nested
    never passes through :func:`component_name`, so ``tests/api/test_openapi.py`` checks
    that each component is exactly the one model it is named after. ``child`` may be the
    ``{model}`` placeholder of a ``$ref`` template, so it is passed through as it is.
    """
    return child


spec = SpecTree(
    "flask",
    mode="strict",
    annotations=False,
    title="Pathfinder API",
    version="1",
    description=(
        "Career data kept in per-user tables. Every error is RFC 9457 "
        "`application/problem+json`. Authenticate with `Authorization: Bearer <access token>` "
        "from `POST /api/v1/auth/login`."
    ),
    naming_strategy=component_name,
    nested_naming_strategy=nested_component_name,
    validation_error_model=ProblemDocument,
)


def contract(
    *,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | Media | None = None,
    responses: Mapping[int, ResponseSpec],
    tags: tuple[str, ...] = (),
    body_required: bool = True,
    rules: tuple[Rule, ...] = (),
    links: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Declare a view's query model, body model and success answers (status -> model).

    ``None`` as a response means "no body" (204); :class:`Media` a non-JSON body (as a
    request ``body`` too: an uploaded file, read by the view itself). A declared body is
    required unless ``body_required=False`` (an action whose fields are all optional, where
    sending nothing is the natural call); the document says which. ``rules`` are the
    operation's rules beyond its models' (:class:`Rule`: checked by the service against
    stored data), documented with its 422. ``links`` names the path parameters its success
    answer gives values for (parameter -> JSON pointer), so the document links it to the
    operations that take them. Errors need no declaration: every operation
    documents problem+json for any 4xx/5xx; declare an error status only when its body is
    not a problem (``/health``'s 503).
    """
    if not responses or not any(status < 400 for status in responses):
        raise ValueError("declare the success answers; problem+json errors need no declaration")
    if not body_required and not (
        isinstance(body, type) and not any(f.is_required() for f in body.model_fields.values())
    ):
        raise ValueError("only a JSON body whose fields are all optional may be optional")
    declared = Contract(
        query=query,
        body=body,
        responses=dict(responses),
        tags=tags,
        body_required=body_required,
        rules=rules,
        links=dict(links or {}),
    )
    spec_models: dict[str, Any] = {}
    for status, answer in responses.items():
        spec_models[f"HTTP_{status}"] = answer if isinstance(answer, type) else None

    def decorate(view: F) -> F:
        # spectree registers the models and records them as attributes of the wrapper it
        # returns; the generator reads only those attributes. The view itself is kept, with
        # the attributes copied over, so no request pays for a wrapper that validates nothing
        # and rebuilds every response.
        documented = spec.validate(
            query=query,
            json=body if isinstance(body, type) else None,
            resp=SpecResponse(**spec_models),
            tags=tags,
            skip_validation=True,
        )(view)
        for name, value in vars(documented).items():
            if name != "__wrapped__":
                setattr(view, name, value)
        setattr(view, CONTRACT_ATTRIBUTE, declared)
        return view

    return decorate


# Enumerations that depend on the app's settings (the chat models an operator configured):
# the schema carries the marker, and each app's document gets the values (openapi.py).
APP_ENUM_MARKER = "x-pathfinder-app-enum"
_app_enums: dict[str, Callable[[Any], Sequence[str]]] = {}


def app_enum(name: str, values_of: Callable[[Any], Sequence[str]]) -> dict[str, Any]:
    """``json_schema_extra`` for a text field whose allowed values the app's settings give.

    ``values_of(app)`` returns them when the app's document is built; an app whose settings
    give none (a misconfigured provider) documents the field without an ``enum``.
    """
    _app_enums[name] = values_of
    return {APP_ENUM_MARKER: name}


def app_enum_values(name: str, app: Any) -> Sequence[str]:
    """The values of the app-dependent enumeration ``name`` for ``app``."""
    return _app_enums[name](app)


def contract_of(view: Callable[..., Any] | None) -> Contract | None:
    """The declared contract of a view function, or None when it has none."""
    return getattr(view, CONTRACT_ATTRIBUTE, None)
