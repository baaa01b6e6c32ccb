"""Filters and PATCH paths: RFC 7644 §3.4.2.2 and §3.5.2 samples, Entra's forms, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scim.attributes import ENTERPRISE_USER_SCHEMA, GROUP, USER, USER_SCHEMA
from scim.errors import ScimError
from scim.filter import (
    And,
    AttrPath,
    CompareOp,
    Comparison,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    coerce_value,
    parse_filter,
    parse_path,
    to_text,
)

# Every filter of the RFC 7644 §3.4.2.2 example figure, as written there.
RFC7644_3_4_2_2_EXAMPLES = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'userName sw "J"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    "title pr",
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.lastModified ge "2011-05-13T04:42:34Z"',
    'meta.lastModified lt "2011-05-13T04:42:34Z"',
    'meta.lastModified le "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and (emails.type eq "work")',
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    'emails[type eq "work" and value co "@example.com"] or '
    'ims[type eq "xmpp" and value co "@foo.com"]',
]


def path(attribute: str, sub: str | None = None, schema: str | None = None) -> AttrPath:
    return AttrPath(schema, attribute, sub)


@pytest.mark.parametrize("text", RFC7644_3_4_2_2_EXAMPLES)
def test_rfc7644_3_4_2_2_examples_parse_resolve_and_round_trip(text: str) -> None:
    parsed = parse_filter(text)
    assert parse_filter(to_text(parsed)) == parsed
    resolved = parse_filter(text, resource_type=USER)
    assert parse_filter(to_text(resolved), resource_type=USER) == resolved


def test_rfc7644_3_4_2_2_and_binds_tighter_than_or() -> None:
    assert parse_filter("a pr or b pr and c pr") == Or(
        (Present(path("a")), And((Present(path("b")), Present(path("c")))))
    )
    assert parse_filter("(a pr or b pr) and c pr") == And(
        (Or((Present(path("a")), Present(path("b")))), Present(path("c")))
    )


def test_rfc7644_3_4_2_2_keywords_are_case_insensitive() -> None:
    assert parse_filter('userName EQ "x" AND title Pr OR NOT (active eq TRUE)') == Or(
        (
            And((Comparison(path("userName"), CompareOp.EQ, "x"), Present(path("title")))),
            Not(Comparison(path("active"), CompareOp.EQ, True)),
        )
    )
    assert parse_filter("x eq False") == Comparison(path("x"), CompareOp.EQ, False)
    assert parse_filter("x eq NULL") == Comparison(path("x"), CompareOp.EQ, None)


def test_rfc7644_3_4_2_2_literals_follow_json() -> None:
    assert parse_filter(r'x eq "a\"b\\c\u00e9\n"').value == 'a"b\\cé\n'  # type: ignore[union-attr]
    assert parse_filter("x gt -1.5e3").value == -1500.0  # type: ignore[union-attr]
    assert parse_filter("x gt 42").value == 42  # type: ignore[union-attr]
    assert to_text(parse_filter(r'x eq "a\"b"')) == r'x eq "a\"b"'


def test_rfc7644_3_4_2_2_chains_are_one_node_and_groups_stay_groups() -> None:
    chain = parse_filter("a pr and b pr and c pr")
    assert chain == And(tuple(Present(path(n)) for n in "abc"))
    grouped = parse_filter("a pr and (b pr and c pr)")
    assert grouped == And((Present(path("a")), And((Present(path("b")), Present(path("c"))))))
    assert to_text(grouped) == "a pr and (b pr and c pr)"


def test_not_may_touch_its_parenthesis_and_attributes_may_be_called_like_keywords() -> None:
    assert parse_filter("not(a pr)") == Not(Present(path("a")))
    assert parse_filter('not eq "x"') == Comparison(path("not"), CompareOp.EQ, "x")
    assert parse_filter("and pr and or pr") == And((Present(path("and")), Present(path("or"))))
    assert parse_filter('never eq "x"') == Comparison(path("never"), CompareOp.EQ, "x")


def test_entra_value_path_with_trailing_sub_attribute_is_kept_explicit() -> None:
    """Known issues with SCIM 2.0 compliance of Entra: emails[type eq "work"].value eq "x"."""
    parsed = parse_filter('emails[type eq "work"].value eq "jdoe@contoso.com"')
    assert parsed == ValuePath(
        path("emails"),
        Comparison(path("type"), CompareOp.EQ, "work"),
        Comparison(path("value"), CompareOp.EQ, "jdoe@contoso.com"),
    )
    assert isinstance(parsed, ValuePath)
    assert parsed.matching_filter == And(
        (
            Comparison(path("type"), CompareOp.EQ, "work"),
            Comparison(path("value"), CompareOp.EQ, "jdoe@contoso.com"),
        )
    )
    assert to_text(parsed) == 'emails[type eq "work"].value eq "jdoe@contoso.com"'
    present = parse_filter('roles[primary eq "True"].value pr')
    assert present == ValuePath(
        path("roles"), Comparison(path("primary"), CompareOp.EQ, "True"), Present(path("value"))
    )


def test_entra_boolean_strings_keep_their_literal_and_coerce_against_the_catalog() -> None:
    parsed = parse_filter('roles[primary eq "True"]', resource_type=USER)
    assert isinstance(parsed, ValuePath)
    inner = parsed.filter
    assert isinstance(inner, Comparison)
    assert inner.value == "True"
    assert inner.path.target is not None
    assert coerce_value(inner.path.target, inner.value) is True
    active = parse_filter('active eq "False"', resource_type=USER)
    assert isinstance(active, Comparison)
    assert active.path.target is not None
    assert coerce_value(active.path.target, active.value) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Microsoft: Test Connection and the lookup before each POST.
        (
            'userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"',
            Comparison(
                AttrPath(None, "userName", None),
                CompareOp.EQ,
                "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081",
            ),
        ),
        (
            'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
            Comparison(
                AttrPath(None, "externalId", None),
                CompareOp.EQ,
                "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            ),
        ),
        (
            'USERNAME EQ "x"',
            Comparison(AttrPath(None, "userName", None), CompareOp.EQ, "x"),
        ),
        (
            f'{USER_SCHEMA}:name.GIVENNAME eq "x"',
            Comparison(AttrPath(None, "name", "givenName"), CompareOp.EQ, "x"),
        ),
        (
            f'{ENTERPRISE_USER_SCHEMA}:manager.value eq "26118915-6090-4610-87a4-49d0767f4bb5"',
            Comparison(
                AttrPath(ENTERPRISE_USER_SCHEMA, "manager", "value"),
                CompareOp.EQ,
                "26118915-6090-4610-87a4-49d0767f4bb5",
            ),
        ),
        (
            'employeeNumber eq "701984"',
            Comparison(AttrPath(ENTERPRISE_USER_SCHEMA, "employeeNumber"), CompareOp.EQ, "701984"),
        ),
        # RFC 7644 §3.4.2.2: a complex attribute compared as a whole compares its value.
        (
            'emails co "example.com"',
            Comparison(AttrPath(None, "emails", "value"), CompareOp.CO, "example.com"),
        ),
    ],
)
def test_resolution_canonicalises_names_and_schemas(text: str, expected: Comparison) -> None:
    resolved = parse_filter(text, resource_type=USER)
    assert resolved == expected
    assert isinstance(resolved, Comparison)
    assert resolved.path.target is not None
    assert resolved.path.target.name == (expected.path.sub_attribute or expected.path.attribute)


def test_resolution_attaches_sub_attribute_definitions_inside_value_paths() -> None:
    resolved = parse_filter('EMAILS[TYPE eq "work"].VALUE eq "x"', resource_type=USER)
    assert isinstance(resolved, ValuePath)
    assert resolved.path.definition is not None
    assert resolved.path.definition.multi_valued
    assert isinstance(resolved.filter, Comparison)
    assert resolved.filter.path == AttrPath(None, "type")
    assert resolved.sub_filter == Comparison(AttrPath(None, "value"), CompareOp.EQ, "x")
    assert resolved.sub_filter.path.definition is not None
    assert not resolved.sub_filter.path.definition.case_exact


def test_group_filters_used_by_entra() -> None:
    by_name = parse_filter('displayName eq "Group1DisplayName"', resource_type=GROUP)
    assert isinstance(by_name, Comparison)
    members = parse_filter(
        'id eq "7b2f3d3a" and members eq "5f1c"',
        resource_type=GROUP,
    )
    assert members == And(
        (
            Comparison(AttrPath(None, "id"), CompareOp.EQ, "7b2f3d3a"),
            Comparison(AttrPath(None, "members", "value"), CompareOp.EQ, "5f1c"),
        )
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the filter is empty at column 1"),
        ("userName", "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after"),
        ('userName equals "x"', "found 'equals' at column 10"),
        ("userName eq", "expected a value (a JSON string, a number, true, false or null)"),
        ("userName eq bob", "found 'bob' at column 13"),
        ("(a pr", "expected 'and', 'or' or ')' to close the '(' at column 1"),
        ("a pr)", "found ')' at column 5"),
        ('a eq "x', "unterminated string at column 6"),
        (r'a eq "\q"', "invalid escape '\\\\q' in a string at column 7"),
        ('a eq "\x01"', "control character in a string"),
        ("emails[type pr", "to close the '[' at column 7"),
        ("a[b[c pr]]", "a value filter cannot hold another value path at column 4"),
        ("a.b[c pr]", "a value path applies to an attribute, not to the sub-attribute"),
        ("a.b.c pr", "invalid attribute path 'a.b.c'"),
        ("1 eq 1", "expected an attribute name, 'not' or '(', found '1' at column 1"),
        ("a eq 12ab", "invalid number at column 6"),
        ("a eq 1e999", "number out of range"),
        ("a pr and", "found the end of the input at column 9"),
        ("a pr b pr", "expected 'and', 'or' or the end of the filter, found 'b'"),
        ("emails[type pr].", "expected a sub-attribute name after '.'"),
        ("emails[type pr].value", "expected an operator"),
        ("urn:x pr", "invalid attribute path 'urn:x'"),
        ("a:b pr", "a schema URN starts with 'urn:'"),
        ("a eq 'x'", "unexpected character"),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text)
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidFilter"
    assert message in caught.value.detail


def test_length_and_nesting_limits() -> None:
    deep = "(" * 33 + "a pr" + ")" * 33
    with pytest.raises(ScimError, match="nests deeper than 32 levels") as caught:
        parse_filter(deep)
    assert caught.value.scim_type == "invalidFilter"
    assert parse_filter("(" * 32 + "a pr" + ")" * 32) == Present(path("a"))
    assert parse_filter("not (" * 3 + "a pr" + ")" * 3, max_depth=3) is not None
    with pytest.raises(ScimError, match="nests deeper than 2 levels"):
        parse_filter("not (" * 3 + "a pr" + ")" * 3, max_depth=2)
    with pytest.raises(ScimError, match="over the limit of 10") as caught:
        parse_filter('userName eq "bjensen"', max_length=10)
    assert caught.value.scim_type == "invalidFilter"
    # A long flat chain is not nesting: it stays within the limits and the stack.
    chain = " or ".join(f'userName eq "u{i}"' for i in range(150))
    parsed = parse_filter(chain)
    assert isinstance(parsed, Or)
    assert len(parsed.terms) == 150


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope eq 1", "unknown attribute 'nope' for User resources"),
        ("name.nope pr", "unknown attribute 'name.nope'"),
        ("urn:example:ext:2.0:User:x pr", "unknown schema 'urn:example:ext:2.0:User'"),
        ('name eq "x"', "'name' is complex: compare one of its sub-attributes"),
        ("userName[value pr]", "'userName' is not a complex attribute"),
        ("emails[nope pr]", "'emails' has no sub-attribute 'nope'"),
        ("emails[type.x pr]", "must name one of its sub-attributes"),
        ("active gt true", "'gt' cannot compare 'active', a boolean"),
        ('active co "t"', "'co' cannot compare 'active', a boolean"),
        ('active eq "maybe"', "'active' takes a boolean"),
        ("meta.created gt 5", "'created' takes a date and time"),
        ('meta.created gt "yesterday"', "'created' takes a date and time"),
        ('roles[primary eq "yes"]', "'primary' takes a boolean"),
        ('password eq "hunter2"', "'password' cannot be filtered on"),
        ("password pr", "'password' cannot be filtered on"),
    ],
)
def test_semantic_errors_against_the_catalog(text: str, message: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text, resource_type=USER)
    assert caught.value.scim_type == "invalidFilter"
    assert message in caught.value.detail


def test_unknown_user_attribute_in_a_group_filter() -> None:
    with pytest.raises(ScimError, match="unknown attribute 'userName' for Group resources"):
        parse_filter('userName eq "x"', resource_type=GROUP)


# ------------------------------------------------------------------ paths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 7644 §3.5.2.1-3 sample paths.
        ("members", PatchPath(AttrPath(None, "members"))),
        ("name.familyName", PatchPath(AttrPath(None, "name", "familyName"))),
        (
            'addresses[type eq "work"]',
            PatchPath(
                AttrPath(None, "addresses"),
                Comparison(AttrPath(None, "type"), CompareOp.EQ, "work"),
            ),
        ),
        (
            'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
            PatchPath(
                AttrPath(None, "members"),
                Comparison(
                    AttrPath(None, "value"),
                    CompareOp.EQ,
                    "2819c223-7f76-453a-919d-413861904646",
                ),
            ),
        ),
        (
            'members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName',
            PatchPath(
                AttrPath(None, "members"),
                Comparison(
                    AttrPath(None, "value"),
                    CompareOp.EQ,
                    "2819c223-7f76-453a-919d-413861904646",
                ),
                "displayName",
            ),
        ),
        (
            'emails[type eq "work" and value ew "example.com"]',
            PatchPath(
                AttrPath(None, "emails"),
                And(
                    (
                        Comparison(AttrPath(None, "type"), CompareOp.EQ, "work"),
                        Comparison(AttrPath(None, "value"), CompareOp.EW, "example.com"),
                    )
                ),
            ),
        ),
        (
            f"{ENTERPRISE_USER_SCHEMA}:manager",
            PatchPath(AttrPath(ENTERPRISE_USER_SCHEMA, "manager")),
        ),
    ],
)
def test_rfc7644_3_5_2_paths(text: str, expected: PatchPath) -> None:
    parsed = parse_path(text)
    assert parsed == expected
    assert parse_path(to_text(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Microsoft: the paths Entra sends in its PATCH requests.
        (
            'emails[type eq "work"].value',
            PatchPath(
                AttrPath(None, "emails"),
                Comparison(AttrPath(None, "type"), CompareOp.EQ, "work"),
                "value",
            ),
        ),
        (
            'phoneNumbers[type eq "mobile"].value',
            PatchPath(
                AttrPath(None, "phoneNumbers"),
                Comparison(AttrPath(None, "type"), CompareOp.EQ, "mobile"),
                "value",
            ),
        ),
        (
            'addresses[type eq "work"].streetAddress',
            PatchPath(
                AttrPath(None, "addresses"),
                Comparison(AttrPath(None, "type"), CompareOp.EQ, "work"),
                "streetAddress",
            ),
        ),
        (
            'roles[primary eq "True"].value',
            PatchPath(
                AttrPath(None, "roles"),
                Comparison(AttrPath(None, "primary"), CompareOp.EQ, "True"),
                "value",
            ),
        ),
        (
            f"{ENTERPRISE_USER_SCHEMA.lower()}:EmployeeNumber",
            PatchPath(AttrPath(ENTERPRISE_USER_SCHEMA, "employeeNumber")),
        ),
        ("ACTIVE", PatchPath(AttrPath(None, "active"))),
        ("name.givenname", PatchPath(AttrPath(None, "name", "givenName"))),
    ],
)
def test_entra_patch_paths_resolve(text: str, expected: PatchPath) -> None:
    resolved = parse_path(text, resource_type=USER)
    assert resolved == expected
    assert parse_path(to_text(resolved), resource_type=USER) == resolved


def test_resolved_path_carries_the_sub_attribute_definition() -> None:
    resolved = parse_path('emails[type eq "work"].VALUE', resource_type=USER)
    assert resolved.sub_attribute == "value"
    assert resolved.sub_definition is not None
    assert resolved.sub_definition.name == "value"
    member = parse_path('members[value eq "1" or value eq "2"]', resource_type=GROUP)
    assert isinstance(member.value_filter, Or)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected an attribute name, found the end of the input at column 1"),
        ("emails[", "expected an attribute name, 'not' or '(', found the end of the input"),
        ('emails[type eq "work"].', "expected a sub-attribute name after '.'"),
        ('emails[type eq "work"] x', "expected the end of the path, found 'x'"),
        ("name.givenName x", "expected '[' or the end of the path, found 'x'"),
        ("a.b.c", "invalid attribute path 'a.b.c'"),
        ('emails[type eq "work"].a.b', "invalid sub-attribute name 'a.b'"),
        ("(a)", "expected an attribute name, found '('"),
    ],
)
def test_path_syntax_errors_are_invalid_path(text: str, message: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_path(text)
    assert caught.value.scim_type == "invalidPath"
    assert message in caught.value.detail


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown attribute 'nope' for User resources"),
        ("emails[type eq 1].nope", "'emails' has no sub-attribute 'nope'"),
        ("userName[value pr]", "'userName' is not a complex attribute"),
        ('roles[primary eq "maybe"].value', "'primary' takes a boolean"),
    ],
)
def test_path_semantic_errors_are_invalid_path(text: str, message: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_path(text, resource_type=USER)
    assert caught.value.scim_type == "invalidPath"
    assert message in caught.value.detail


# ------------------------------------------------------------------ coercion


def _target(text: str) -> object:
    found = USER.lookup(text)
    assert found is not None
    return found.target


@pytest.mark.parametrize(
    ("attribute", "literal", "expected"),
    [
        ("active", True, True),
        ("active", "True", True),
        ("active", "false", False),
        ("active", " FALSE ", False),
        ("active", None, None),
        ("userName", "x", "x"),
        ("userName", 12, "12"),
        ("meta.created", "2011-05-13T04:42:34Z", datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)),
        ("meta.created", "2011-05-13T04:42:34", datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)),
    ],
)
def test_coerce_value(attribute: str, literal: object, expected: object) -> None:
    found = USER.lookup(attribute)
    assert found is not None
    assert coerce_value(found.target, literal) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attribute", "literal"),
    [("active", "yes"), ("active", 1), ("userName", True), ("meta.created", 5), ("name", "x")],
)
def test_coerce_value_refuses_with_the_requested_scim_type(attribute: str, literal: object) -> None:
    found = USER.lookup(attribute)
    assert found is not None
    with pytest.raises(ScimError) as caught:
        coerce_value(found.target, literal, scim_type="invalidValue")  # type: ignore[arg-type]
    assert caught.value.scim_type == "invalidValue"
