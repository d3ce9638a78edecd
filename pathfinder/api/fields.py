"""Request field types whose JSON Schema says exactly what the server takes.

pydantic's lax mode reads more than the document promises: ``0`` and ``"0"`` become the
date 1970-01-01, ``"2024-01-01"`` is accepted where a date-time with a zone is documented,
and a ``Decimal`` field is documented as "a number or any string". A client reading the
document cannot know any of that, and a fuzzer reading it finds the gap at once. The types
here accept what their schema says and nothing else:

* :data:`IsoDate` is a JSON string ``YYYY-MM-DD`` (``format: date``), never a number;
* :data:`IsoDateTime` is an RFC 3339 date-time with its offset (``format: date-time``);
* :func:`decimal_number` is a JSON number (not a string) kept to a fixed number of places;
* :data:`Id` is a 26-character ULID, the form of every id the API hands out;
* :func:`omittable` is a field that may be left out but never sent as ``null``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError
from werkzeug.routing import BaseConverter

from pathfinder.ids import ID_LENGTH

# RFC 3339 full-date and date-time (the "T" and "Z" may be lower case, RFC 3339 section 5.6).
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# Crockford base32, upper case, as python-ulid writes it (pathfinder.ids.new_id).
ID_PATTERN = f"^[0-9A-HJKMNP-TV-Z]{{{ID_LENGTH}}}$"
_ID = re.compile(ID_PATTERN)
# The examples the document gives (Swagger UI shows them; schemathesis' examples phase sends
# them): values of each field's form, naming nothing in particular.
EXAMPLE_ID = "01J9ZQ4K8M3N5P7R9T1V3X5Z7B"
EXAMPLE_DATE = "2024-03-15"
EXAMPLE_DATE_TIME = "2024-05-01T09:30:00Z"
# What a text field with a minimum length needs beyond it: whitespace is stripped from
# every request string (RequestModel), so "   " is empty by the time the length is checked.
# The class is exactly what pydantic strips (Unicode White_Space, Rust's ``str::trim``),
# spelled out because Python's ``\s`` also matches U+001C-U+001F, which are not stripped.
STRIPPED = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{STRIPPED}]"
# Text of any kind never holds NUL (U+0000): PostgreSQL cannot store it, and every route
# refuses it (pathfinder.api.validation.reject_nul_characters).
TEXT = r"^[^\x00]*$"
NOT_BLANK_TEXT = f"^[^\\x00]*[^\\x00{STRIPPED}][^\\x00]*$"
_SPACES = re.compile(f"[{STRIPPED}]+")


def collapse_spaces(text: str) -> str:
    """``text`` with each run of whitespace made one space, and none at either end.

    Whitespace is what the stripping of request strings removes (:data:`STRIPPED`), so a
    value the schema calls not blank stays not blank once collapsed.
    """
    return _SPACES.sub(" ", text).strip(" ")


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_value", "not a calendar date") from None


def _iso_date_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str) or not ISO_DATE_TIME.fullmatch(value):
        raise PydanticCustomError(
            "datetime_format",
            "must be an RFC 3339 date-time with its offset, e.g. 2024-05-01T09:30:00Z",
        )
    else:
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise PydanticCustomError("datetime_value", "not a calendar date and time") from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("datetime_offset", "must have a time-zone offset")
    return parsed


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "examples": [EXAMPLE_DATE]}),
]
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_date_time),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_DATE_TIME]}),
]


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise PydanticCustomError("id_format", "must be an id: 26 characters, 0-9 and A-Z")
    return value


def _string_schema(pattern: str, min_length: int, max_length: int, example: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": pattern,
        "examples": [example],
    }


Id = Annotated[
    str,
    BeforeValidator(_id),
    WithJsonSchema(_string_schema(ID_PATTERN, ID_LENGTH, ID_LENGTH, EXAMPLE_ID)),
]


def segment_converter(
    pattern: str, *, max_length: int, example: str, doc: str, min_length: int = 1
) -> type[BaseConverter]:
    """A route converter taking a path segment of ``pattern`` (``^...$``, bounding its
    length itself), or no route.

    Its ``schema`` is the parameter's schema in the document
    (:func:`pathfinder.api.openapi.path_parameter_schemas`): a segment the document allows
    is one the route takes, and none is so long that the request line passes gunicorn's
    limit (``gunicorn.conf.py``), which would answer 414 to a request the document allows.
    """
    schema = _string_schema(pattern, min_length, max_length, example)
    return type(
        "SegmentConverter",
        (BaseConverter,),
        {"regex": pattern.strip("^$"), "schema": schema, "__doc__": doc},
    )


# A token in a mailed link (an invitation, an export download): base64url, as
# pathfinder.security.tokens.new_token writes it.
TOKEN_MAX_LENGTH = 200
TOKEN_PATTERN = f"^[A-Za-z0-9_-]{{1,{TOKEN_MAX_LENGTH}}}$"
TokenConverter = segment_converter(
    TOKEN_PATTERN,
    max_length=TOKEN_MAX_LENGTH,
    example="Zm9yIGV4YW1wbGUgb25seSwgbm90IGEgdG9rZW4",
    doc="``<token:token>``: the token of a mailed link.",
)


# Without it ``/me/skills/summary`` also matched ``/me/skills/<skill_id>``, so its
# ``OPTIONS`` listed that route's PATCH and DELETE; and the document gives each id
# parameter the schema of an id in a body, so a client knows an id when it sees one.
IdConverter = segment_converter(
    ID_PATTERN,
    min_length=ID_LENGTH,
    max_length=ID_LENGTH,
    example=EXAMPLE_ID,
    doc="``<id:experience_id>``: a path segment that is an id, or no route at all.",
)


def _json_number(value: Any) -> Decimal:
    # bool is an int to Python, and a JSON string is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise PydanticCustomError("number_type", "must be a JSON number")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def decimal_number(
    *, places: int, minimum: float, maximum: float, description: str | None = None
) -> Any:
    """A JSON number between ``minimum`` and ``maximum``, kept to ``places`` decimals.

    The bounds apply to the number as sent, then it is rounded half up: a bound that holds
    before rounding holds after it, so the document's ``minimum``/``maximum`` are exact.
    (``multipleOf: 0.01`` would say "two places" but is unusable with binary floating point:
    0.57 is not a multiple of 0.01 to a JSON Schema validator.)
    """
    quantum = Decimal(1).scaleb(-places)
    text = f"Kept to {places} decimal place{'s' if places != 1 else ''} (rounded half up)."
    return Annotated[
        Decimal,
        BeforeValidator(_json_number),
        Field(ge=Decimal(str(minimum)), le=Decimal(str(maximum))),
        AfterValidator(lambda value: value.quantize(quantum, rounding=ROUND_HALF_UP)),
        WithJsonSchema(
            {
                "type": "number",
                "minimum": minimum,
                "maximum": maximum,
                "description": f"{description} {text}" if description else text,
            }
        ),
    ]


def omittable(**constraints: Any) -> Any:
    """A field that may be left out (it stays as it is) but is never ``null``.

    Declared as ``name: str = omittable(max_length=200)``: pydantic refuses ``null`` for a
    ``str``, and the schema shows no ``default: null`` (see
    :class:`pathfinder.api.validation.RequestSchema`), so the document says what the server
    does: the field is optional, its type is not nullable.
    """
    return Field(default=None, **constraints)
