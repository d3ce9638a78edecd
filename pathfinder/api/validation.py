"""Request parsing with pydantic: a bad body is a 422 problem naming each bad field.

Error entries carry the field path and pydantic's message, never the submitted value (it
may be a password). Text with a NUL character (U+0000) is refused for every route before
the view runs: PostgreSQL cannot store it in text or JSON, so it would otherwise surface as
a server error deep in a write (found by the fuzzing run).

A body is read in this order, each failure with its own answer (``docs/api.md``):

* no body where the route declares a required one: 422, field ``body`` (before, it was read
  as ``{}``, and ``PUT /me/preferences`` with no body wiped all three settings);
* a body that is not JSON by its ``Content-Type``: 415;
* JSON that does not parse (truncated, a stray comma): 400 ``malformed-body`` with the
  parser's position;
* an object that repeats a key: 422 naming the key's path (JSON parsers disagree on which
  copy wins, so the client and the server could read different documents);
* a document that is not an object: 400; then the model's own validation: 422.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode
from pydantic_core import PydanticCustomError, core_schema

from pathfinder.api.contract import Rule, contract_of
from pathfinder.api.errors import Problem
from pathfinder.api.fields import NOT_BLANK_TEXT, TEXT

M = TypeVar("M", bound=BaseModel)


class RequestSchema(GenerateJsonSchema):
    """The JSON Schema of a request model, saying what the parser really takes.

    * A field that may be left out but is never ``null`` (:func:`~pathfinder.api.fields.
      omittable`) shows no ``default: null``, which its own type would refuse.
    * Text with a minimum length must hold a character that is not stripped: whitespace is
      stripped before lengths are checked, so ``"   "`` is empty to the server.
    * Text never holds NUL (U+0000), which every route refuses (:func:`reject_nul_characters`).
      A field with a pattern of its own says so with its pattern.
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None and not _allows_null(generated):
            del generated["default"]
        return generated

    def str_schema(self, schema: core_schema.StringSchema) -> dict[str, Any]:
        generated = super().str_schema(schema)
        if "pattern" in generated:
            return generated
        stripped = schema.get("strip_whitespace") is not False  # a field may opt out
        if stripped and generated.get("minLength", 0) >= 1:
            generated["pattern"] = NOT_BLANK_TEXT
        else:
            generated["pattern"] = TEXT
        return generated


LENGTH_AS_SENT = "string_too_long_as_sent"
_FIELD_SCHEMAS: dict[type[BaseModel], dict[str, Mapping[str, Any]]] = {}


def _field_schemas(model: type[BaseModel]) -> dict[str, Mapping[str, Any]]:
    """Each field's schema in ``model``'s document schema (the text lengths to check)."""
    if model not in _FIELD_SCHEMAS:
        _FIELD_SCHEMAS[model] = dict(model.model_json_schema().get("properties", {}))
    return _FIELD_SCHEMAS[model]


def _allows_null(schema: Mapping[str, Any]) -> bool:
    if schema.get("type") == "null":
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", ()))


def _too_long(value: Any, schema: Mapping[str, Any]) -> tuple[str, int] | None:
    """Where ``value`` as sent breaks a ``maxLength`` of its field's schema (the dotted path
    inside the field, "" for the field itself) and the limit; None when it does not.

    Follows the schema through ``anyOf`` and array ``items``; a nested model (``$ref``)
    checks its own fields.
    """
    for option in schema.get("anyOf", ()):
        found = _too_long(value, option)
        if found is not None:
            return found
    if isinstance(value, str) and schema.get("type") == "string":
        limit = schema.get("maxLength")
        if limit is not None and len(value) > limit:
            return "", int(limit)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found = _too_long(item, schema["items"])
            if found is not None:
                inner, limit = found
                return f"{index}.{inner}".rstrip("."), limit
    return None


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are an error, strings are stripped.

    ``rules`` are the model's rules beyond its schema (:class:`Rule`), checked and
    documented with it.

    Lengths are those of the text as sent, as the document states them (``maxLength``):
    stripping comes after, so ``"a" * 200 + " "`` is too long for 200 characters.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rules: ClassVar[tuple[Rule, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _length_as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        schema = _field_schemas(cls).get(info.field_name or "")
        found = None if schema is None else _too_long(value, schema)
        if found is not None:
            at, limit = found
            raise PydanticCustomError(
                LENGTH_AS_SENT,
                "String should have at most {max_length} characters",
                {"max_length": limit, "at": at},
            )
        return value

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool = True,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = RequestSchema,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The model's schema as :class:`RequestSchema` writes it (spectree calls this)."""
        return super().model_json_schema(
            by_alias=by_alias,
            ref_template=ref_template,
            schema_generator=schema_generator,
            mode=mode,
            **kwargs,
        )


class ValidationProblem(Problem):
    status = 422
    slug = "validation-error"
    title = "The request is not valid"


class MalformedBody(Problem):
    status = 400
    slug = "malformed-body"
    title = "Malformed request body"


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


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


class _RepeatedKeys(dict[str, Any]):
    """A JSON object that named ``repeated`` more than once (the last value was kept)."""

    repeated: str


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    marked = _RepeatedKeys(document)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.repeated = key
            break
        seen.add(key)
    return marked


def _json_float(text: str) -> float | int:
    """A JSON number written with a fraction or exponent: an int when it has no fraction.

    To JSON Schema ``5.0`` and ``5`` are the same number and both are an ``integer``; the
    strict parse of a body would refuse the float for an integer field.
    """
    value = float(text)
    return int(value) if value.is_integer() else value


def _repeated_key_path(document: Any) -> str | None:
    """The dotted path of the first key an object repeats, or None. Iterative, like NUL."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _RepeatedKeys):
            return f"{path}.{value.repeated}" if path else value.repeated
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(value))
    return None


NO_BODY: Any = object()


def _body_is_required() -> bool:
    declared = contract_of(current_app.view_functions.get(request.endpoint or ""))
    return declared is None or declared.body_required


def _missing_body() -> ValidationProblem:
    return ValidationProblem(
        "This operation needs a JSON request body.",
        errors=[{"field": "body", "message": "a JSON object is required"}],
    )


def refuse_missing_body() -> None:
    """``before_request``: a route whose contract requires a JSON body gets one, or 422.

    Checked here, from the declaration, rather than only where a view parses its body: some
    views look their resource up first, so a missing body on an unknown id was a 404 there
    and a 422 elsewhere. Runs after the auth guard (an anonymous caller still gets 401).
    """
    if request.routing_exception is not None or request.method == "OPTIONS":
        return
    declared = contract_of(current_app.view_functions.get(request.endpoint or ""))
    if declared is None or not isinstance(declared.body, type) or not declared.body_required:
        return
    if not request.get_data(cache=True).strip():
        raise _missing_body()


def read_json_body() -> Any:
    """The request's JSON document, or a problem saying exactly what is wrong with it.

    :data:`NO_BODY` when no body was sent and the route's contract makes the body optional
    (a JSON ``null`` is a document, and not an object).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        if not _body_is_required():
            return NO_BODY
        raise _missing_body()
    if not request.is_json:
        raise UnsupportedMediaType(
            "The request body must be JSON, sent with Content-Type: application/json."
        )
    try:
        document = current_app.json.loads(
            raw, object_pairs_hook=_json_object, parse_float=_json_float
        )
    except UnicodeDecodeError as exc:
        raise MalformedBody("The request body is not UTF-8 encoded JSON.") from exc
    except json.JSONDecodeError as exc:
        # The parser's message names a position, never the submitted text.
        raise MalformedBody(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}."
        ) from exc
    except ValueError as exc:
        raise MalformedBody(f"The request body is not valid JSON: {exc}.") from exc
    repeated = _repeated_key_path(document)
    if repeated is not None:
        raise ValidationProblem(
            "The JSON document names a key twice in one object.",
            errors=[{"field": repeated, "message": "duplicate key"}],
        )
    return document


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """``[{"field": "a.b", "message": ...}]`` from a pydantic error, without input values."""
    errors = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = list(error["loc"])
        if error["type"] == LENGTH_AS_SENT and error.get("ctx", {}).get("at"):
            loc.append(error["ctx"]["at"])  # the item of a list field
        field = ".".join(str(part) for part in loc) or "body"
        errors.append({"field": f"{prefix}{field}", "message": error["msg"]})
    return errors


def _item_model(annotation: Any) -> type[RequestModel] | None:
    """``SubModel`` for a ``list[SubModel]`` field whose items have rules of their own."""
    if typing.get_origin(annotation) is not list:
        return None
    (item,) = typing.get_args(annotation) or (None,)
    if isinstance(item, type) and issubclass(item, RequestModel):
        return item
    return None


def _valid_values(
    model: type[RequestModel], data: Mapping[str, Any], bad: set[str], *, strict: bool
) -> dict[str, Any]:
    """The validated value of every field that is valid on its own (defaults included).

    Each field sent is validated alone, as an assignment to an unvalidated instance, so a
    rule over valid fields can run while another field is wrong.
    """
    shell = model.model_construct()
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in bad:
            continue
        if name not in data:
            if not info.is_required():
                values[name] = info.get_default(call_default_factory=True)
            continue
        try:
            model.__pydantic_validator__.validate_assignment(shell, name, data[name], strict=strict)
        except ValidationError:
            continue
        values[name] = getattr(shell, name)
    return values


def rule_errors(
    model: type[RequestModel], values: Mapping[str, Any], prefix: str = ""
) -> list[dict[str, str]]:
    """The errors of ``model``'s checked rules whose fields all have valid values."""
    errors = []
    for rule in model.rules:
        if rule.check is None or not all(name in values for name in rule.uses):
            continue
        message = rule.check(values)
        if message is not None:
            errors.append({"field": f"{prefix}{rule.field}", "message": message})
    return errors


def request_errors(
    model: type[RequestModel], data: Any, *, strict: bool, prefix: str = ""
) -> tuple[RequestModel | None, list[dict[str, str]]]:
    """``model`` parsed from ``data``, or every error at once: fields, then rules.

    A wrong field does not hide a broken rule over the others (a 5-character password is
    reported beside the username and e-mail errors), and the items of a list of models are
    checked one by one, each with its own rules.
    """
    try:
        parsed = model.model_validate(data, strict=strict)
    except ValidationError as exc:
        errors = field_errors(exc, prefix)
        if not isinstance(data, Mapping):
            return None, errors
        bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        errors += rule_errors(model, _valid_values(model, data, bad, strict=strict), prefix)
        for name in sorted(bad & set(model.model_fields)):
            item_model = _item_model(model.model_fields[name].annotation)
            items = data.get(name)
            if item_model is None or not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                _, item_errors = request_errors(
                    item_model, item, strict=strict, prefix=f"{prefix}{name}.{index}."
                )
                errors += [e for e in item_errors if e not in errors]
        return None, errors
    values = {name: getattr(parsed, name) for name in model.model_fields}
    errors = rule_errors(model, values, prefix)
    for name, info in model.model_fields.items():
        item_model = _item_model(info.annotation)
        if item_model is not None and values[name]:
            for index, item in enumerate(values[name]):
                item_values = {n: getattr(item, n) for n in item_model.model_fields}
                errors += rule_errors(item_model, item_values, f"{prefix}{name}.{index}.")
    return (None if errors else parsed), errors


def _validated(model: type[M], data: Any, *, strict: bool, detail: str) -> M:
    if not issubclass(model, RequestModel):
        try:
            return model.model_validate(data, strict=strict)
        except ValidationError as exc:
            raise ValidationProblem(detail, errors=field_errors(exc)) from exc
    parsed, errors = request_errors(model, data, strict=strict)
    if errors or parsed is None:
        raise ValidationProblem(detail, errors=errors)
    return parsed  # type: ignore[return-value]


def _holds_free_json(annotation: Any) -> bool:
    """Whether a field takes any JSON (``Any``, ``dict[str, Any]``): its text has no schema."""
    if annotation is Any:
        return True
    options = typing.get_args(annotation) or ()
    return typing.get_origin(annotation) is dict or any(_holds_free_json(o) for o in options)


def model_rules(model: type[BaseModel], prefix: str = "") -> Iterator[Rule]:
    """``model``'s rules and those of the models its list fields hold (``items.*.``).

    A field taking any JSON gets the NUL rule, which a schema of "anything" cannot state
    (the error names the path inside it: ``preferences.theme``).
    """
    if not issubclass(model, RequestModel):
        return
    for rule in model.rules:
        yield Rule(f"{prefix}{rule.field}", rule.says, rule.uses, rule.check)
    for name, info in model.model_fields.items():
        if _holds_free_json(info.annotation):
            yield Rule(f"{prefix}{name}*", "no NUL character (U+0000) in any key or text")
        item_model = _item_model(info.annotation)
        if item_model is not None:
            yield from model_rules(item_model, f"{prefix}{name}.*.")


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
    """The JSON body as ``model``: 422 when missing (unless optional) or invalid, 415 when
    not JSON, 400 when it does not parse or is not an object."""
    _check_declared("body", model)
    data: Any = read_json_body()
    if data is NO_BODY:
        data = {}  # an optional body, not sent
    elif not isinstance(data, dict):
        raise MalformedBody("The request body must be a JSON object.")
    # Strict: a JSON body is typed, so "5" is not an integer and 0 is not a date, as the
    # document says; the date, date-time and decimal types read their JSON forms.
    return _validated(model, data, strict=True, detail="One or more fields are invalid.")


def _takes_list(model: type[BaseModel], name: str) -> bool:
    """Whether query parameter ``name`` is a list (``?t=a&t=b``; one ``?t=a`` is a list too)."""
    info = model.model_fields.get(name)
    if info is None:
        return False
    options = typing.get_args(info.annotation) or (info.annotation,)
    return any(typing.get_origin(option) is list for option in (info.annotation, *options))


def parse_query(model: type[M]) -> M:
    """The query string as ``model`` (a list parameter's values, repeated or not, become a
    list; any other repeated key too, which the model then refuses); 422 when invalid."""
    _check_declared("query", model)
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        data[key] = values if len(values) > 1 or _takes_list(model, key) else values[0]
    # Lax: every query value is text on the wire ("5", "true").
    return _validated(model, data, strict=False, detail="One or more query parameters are invalid.")
