"""Property tests of the filter and path parser: only ScimError, and exact round-trips."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import ScimFilter

from scim.attributes import ENTERPRISE_USER_SCHEMA, GROUP, USER, USER_SCHEMA, ResourceType
from scim.errors import ScimError
from scim.filter import (
    And,
    AttrPath,
    CompareOp,
    Comparison,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_filter,
    parse_path,
    to_text,
)

# Generation time is not under test: a loaded 2-core machine must not fail it.
SLOW_MACHINE = [HealthCheck.too_slow]


# Pieces of real filters, so that random sequences reach deep into the grammar
# instead of failing on the first character.
FRAGMENTS = [
    "userName",
    "emails",
    "emails.value",
    "name.givenName",
    "active",
    "members",
    "value",
    "type",
    "primary",
    "meta.lastModified",
    f"{USER_SCHEMA}:userName",
    f"{ENTERPRISE_USER_SCHEMA}:manager.value",
    f"{ENTERPRISE_USER_SCHEMA}:employeeNumber",
    "urn:",
    "$ref",
    "eq",
    "NE",
    "co",
    "sw",
    "ew",
    "gt",
    "ge",
    "lt",
    "le",
    "pr",
    "and",
    "OR",
    "not",
    "(",
    ")",
    "[",
    "]",
    ".",
    '"work"',
    '"True"',
    '"a\\"b"',
    '"\\u00e9"',
    '"',
    "\\",
    "true",
    "False",
    "null",
    "0",
    "-1.5e3",
    "1e999",
    "12ab",
    " ",
    "\t",
    ":",
]

token_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map(lambda parts: " ".join(parts))
tight_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
any_text = st.one_of(st.text(max_size=200), token_soup, tight_soup)


def _failure(
    parse: Callable[..., object], text: str, resource_type: ResourceType | None
) -> tuple[int, str | None] | None:
    """Parse; the status and scimType of the ScimError raised, if any (others propagate)."""
    try:
        parse(text, resource_type=resource_type)
    except ScimError as error:
        return error.status, error.scim_type
    return None


@settings(max_examples=250, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(any_text)
def test_parse_filter_raises_only_scim_errors(text: str) -> None:
    for resource_type in (None, USER, GROUP):
        assert _failure(parse_filter, text, resource_type) in (None, (400, "invalidFilter"))


@settings(max_examples=250, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(any_text)
def test_parse_path_raises_only_scim_errors(text: str) -> None:
    for resource_type in (None, USER, GROUP):
        assert _failure(parse_path, text, resource_type) in (None, (400, "invalidPath"))


KEYWORDS = ["and", "or", "not", "pr", "eq", "true", "null", "never"]
plain_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)
schemas = st.one_of(st.none(), st.sampled_from([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]))
literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
ops = st.sampled_from(list(CompareOp))


def _combine(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(And, many), st.builds(Or, many), st.builds(Not, children))


def ast_strategies(
    names: st.SearchStrategy[str],
) -> tuple[st.SearchStrategy[Filter], st.SearchStrategy[PatchPath]]:
    """Every filter and PATCH path the grammar can express, over these names."""
    sub_names = st.one_of(names, st.just("$ref"))
    attr_paths = st.builds(AttrPath, schemas, names, st.one_of(st.none(), sub_names))
    selected_paths = st.builds(AttrPath, schemas, names)
    relative_paths = st.builds(AttrPath, st.none(), sub_names)
    tests = st.one_of(
        st.builds(Comparison, attr_paths, ops, literals), st.builds(Present, attr_paths)
    )
    relative_tests = st.one_of(
        st.builds(Comparison, relative_paths, ops, literals), st.builds(Present, relative_paths)
    )
    value_filters = st.recursive(tests, _combine, max_leaves=8)
    value_paths = st.builds(
        ValuePath, selected_paths, value_filters, st.one_of(st.none(), relative_tests)
    )
    filters = st.recursive(st.one_of(tests, value_paths), _combine, max_leaves=12)
    patch_paths = st.one_of(
        st.builds(PatchPath, attr_paths),
        st.builds(PatchPath, selected_paths, value_filters, st.one_of(st.none(), sub_names)),
    )
    return filters, patch_paths


# Attributes may be called like keywords: the parser tells them apart by position.
filters, patch_paths = ast_strategies(st.one_of(plain_names, st.sampled_from(KEYWORDS)))
# scim2-models' lexer cannot tell them apart, so it only sees plain names.
RESERVED = {*KEYWORDS, "false", *(op.value for op in CompareOp)}
plain_filters, _ = ast_strategies(plain_names.filter(lambda name: name.lower() not in RESERVED))


@settings(max_examples=250, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(filters)
def test_to_text_round_trips_every_filter(ast: Filter) -> None:
    text = to_text(ast)
    assert parse_filter(text, max_length=10**6, max_depth=1000) == ast
    # The canonical text is a fixed point.
    assert to_text(parse_filter(text, max_length=10**6, max_depth=1000)) == text


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(plain_filters)
def test_canonical_text_is_a_filter_for_scim2_models_too(ast: Filter) -> None:
    """The canonical form is plain RFC 7644 (an independent parser accepts it)."""
    ScimFilter(to_text(ast))


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(patch_paths)
def test_to_text_round_trips_every_patch_path(ast: PatchPath) -> None:
    assert parse_path(to_text(ast), max_length=10**6, max_depth=1000) == ast
