"""The username validator and the physical names it allows: the part that must never be wrong."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfinder.schema.naming import (
    ORACLE_MAX_IDENTIFIER_BYTES,
    TENANT_PREFIX,
    InvalidUsername,
    is_valid_username,
    normalize_username,
    tenant_object_name,
)
from pathfinder.schema.shared import metadata as shared_metadata
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION, tenant_tables

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
LONGEST_USERNAME = "u" + "x" * 29


def template_tails(version: int = LATEST_TEMPLATE_VERSION) -> set[str]:
    """Every name part the template appends after ``pf_user_<username>_``."""
    tables = tenant_tables("probe_user", version)
    prefix = f"{TENANT_PREFIX}probe_user_"
    return {name[len(prefix) :] for name in all_object_names(tables)}


def all_object_names(tables) -> set[str]:  # type: ignore[no-untyped-def]
    names: set[str] = set()
    for table in tables.tables.values():
        names.add(table.name)
        names |= {str(c.name) for c in table.constraints if c.name}
        names |= {str(ix.name) for ix in table.indexes}
    names |= {view.name for view in tables.views.values()}
    return names


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("alice", "alice"), ("John", "john"), ("JOHN_DOE", "john_doe"), ("a12", "a12")],
)
def test_accepts_and_case_folds(raw: str, canonical: str) -> None:
    assert normalize_username(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ab", "shorter"),
        ("a" * 31, "longer"),
        ("1abc", "start with a letter"),
        ("_abc", "start with a letter"),
        ("john-doe", "letters, digits"),
        ("john doe", "letters, digits"),
        ("jo__hn", "'__'"),
        ("john_", "end with"),
        ("jöhn", "ASCII"),
        ("straße", "ASCII"),
        ("ıbrahim", "ASCII"),
        ("x'; drop table pf_users;--", "letters, digits"),
        ('a"b"c', "letters, digits"),
        ("system", "reserved"),
        ("", "shorter"),
    ],
)
def test_rejects_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidUsername, match=re.escape(reason)):
        normalize_username(raw)


def test_rejects_non_strings() -> None:
    with pytest.raises(InvalidUsername):
        normalize_username(None)
    with pytest.raises(InvalidUsername):
        normalize_username(b"alice")


def test_name_builder_refuses_non_canonical_usernames() -> None:
    with pytest.raises(InvalidUsername, match="canonical"):
        tenant_object_name("Alice", "experiences")
    with pytest.raises(ValueError, match="plain lower-case"):
        tenant_object_name("alice", "experiences; drop")


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet=string.ascii_letters + string.digits + "_-'\" ;", max_size=40),
        st.sampled_from(["select", "drop", "table", "user", "level", "session", "pf_users"]),
    )
)
def test_hostile_usernames_never_reach_ddl_unsafely(raw: str) -> None:
    """Whatever the input, it is refused, or every name built from it is a safe identifier."""
    try:
        name = normalize_username(raw)
    except InvalidUsername:
        return
    assert is_valid_username(name)
    for object_name in all_object_names(tenant_tables(name)):
        assert IDENTIFIER.match(object_name), object_name
        assert object_name.startswith(f"{TENANT_PREFIX}{name}_")
        assert len(object_name.encode()) <= ORACLE_MAX_IDENTIFIER_BYTES


@pytest.mark.parametrize("version", range(1, LATEST_TEMPLATE_VERSION + 1))
def test_longest_username_fits_oracle_for_every_object(version: int) -> None:
    names = all_object_names(tenant_tables(LONGEST_USERNAME, version))
    assert names
    longest = max(names, key=len)
    assert len(longest.encode()) <= ORACLE_MAX_IDENTIFIER_BYTES, longest


@pytest.mark.parametrize("version", range(1, LATEST_TEMPLATE_VERSION + 1))
def test_no_two_users_can_share_a_physical_name(version: int) -> None:
    """Proof for the current templates that (username, part) -> name is one-to-one.

    ``pf_user_<u1>_<a> == pf_user_<u2>_<b>`` with ``u1 != u2`` needs one part to end with
    ``_`` + the other (then the longer username is the shorter plus ``_`` and the rest).
    So it is enough that no template part ends with ``_<another part>``.
    """
    tails = template_tails(version)
    clashes = [(a, b) for a in tails for b in tails if a != b and a.endswith(f"_{b}")]
    assert clashes == []


@settings(max_examples=1000, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z0-9_]{2,29}", fullmatch=True).filter(is_valid_username),
    st.from_regex(r"[a-z][a-z0-9_]{2,29}", fullmatch=True).filter(is_valid_username),
    st.sampled_from(sorted(template_tails())),
    st.sampled_from(sorted(template_tails())),
)
def test_distinct_pairs_give_distinct_names(u1: str, u2: str, t1: str, t2: str) -> None:
    if (u1, t1) != (u2, t2):
        assert tenant_object_name(u1, t1) != tenant_object_name(u2, t2)


def test_adversarial_prefix_users_do_not_collide() -> None:
    """``john`` and ``john_doe`` (and ``john_experiences``) keep apart every name."""
    users = ["john", "john_doe", "john_experiences", "john_chat", "john_skills_ix"]
    seen: dict[str, str] = {}
    for user in users:
        for name in all_object_names(tenant_tables(user)):
            assert name not in seen, (name, user, seen.get(name))
            seen[name] = user


def test_shared_names_cannot_be_taken_by_a_user() -> None:
    """No shared table, index or constraint has the shape of a per-user name."""
    tails = template_tails()
    shared_names: set[str] = set()
    for table in shared_metadata.tables.values():
        shared_names.add(table.name)
        shared_names |= {str(c.name) for c in table.constraints if c.name}
        shared_names |= {str(ix.name) for ix in table.indexes}
    for name in shared_names:
        if not name.startswith(TENANT_PREFIX):
            continue
        rest = name[len(TENANT_PREFIX) :]
        for tail in tails:
            if rest.endswith(f"_{tail}"):
                candidate = rest[: -len(tail) - 1]
                assert not is_valid_username(candidate), (name, candidate, tail)


POSTGRES_MAX_IDENTIFIER_BYTES = 63


@pytest.mark.parametrize("version", range(1, LATEST_TEMPLATE_VERSION + 1))
def test_longest_username_fits_postgresql_for_every_relation_and_constraint(version: int) -> None:
    """PostgreSQL cuts names at 63 bytes (SQLAlchemy refuses longer explicit index names)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    tables = tenant_tables(LONGEST_USERNAME, version)
    too_long = [
        name
        for name in all_object_names(tables)
        if len(name.encode()) > POSTGRES_MAX_IDENTIFIER_BYTES and "_ck_" not in name
    ]
    assert too_long == []
    dialect = postgresql.dialect()
    for table in tables.tables.values():
        CreateTable(table).compile(dialect=dialect)
        for index in table.indexes:
            CreateIndex(index).compile(dialect=dialect)


@pytest.mark.parametrize(
    "raw", ["alice\n", "alice\r", "ali\tce", "alice\x00", "\nalice", "alice\x7f", "bob\x1b"]
)
def test_control_characters_are_refused_trailing_newline_included(raw: str) -> None:
    """``$`` matches before a final newline: "alice\\n" once passed the pattern and
    reached the DDL text through the CLI."""
    with pytest.raises(InvalidUsername, match="control characters"):
        normalize_username(raw)
    assert not is_valid_username(raw)
