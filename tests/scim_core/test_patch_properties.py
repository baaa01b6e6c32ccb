"""Property tests of the PATCH engine: only ScimError, atomicity, idempotence, members."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scim.attributes import ENTERPRISE_USER_SCHEMA as EXT
from scim.attributes import GROUP, GROUP_SCHEMA, USER, USER_SCHEMA
from scim.errors import ScimError
from scim.patch import PatchResult, apply_patch, normalise_resource

# Generation time is not under test: a loaded 2-core machine must not fail it.
SLOW_MACHINE = [HealthCheck.too_slow]


USER_RESOURCE: dict[str, Any] = {
    "schemas": [USER_SCHEMA, EXT],
    "id": "u1",
    "userName": "bjensen@example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-0100", "type": "work"}],
    EXT: {"employeeNumber": "701984", "manager": {"value": "m1"}},
}
GROUP_RESOURCE: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Guides"}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["True", "False", "", "work", "2011-05-13T04:42:34Z"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["value", "type", "primary", "$ref"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
PATHS = [
    "userName",
    "displayName",
    "active",
    "name",
    "name.givenName",
    "emails",
    "emails.value",
    'emails[type eq "work"]',
    'emails[type eq "work"].value',
    'emails[type eq "work" or primary eq true].value',
    'phoneNumbers[type eq "mobile"].value',
    "roles",
    'roles[primary eq "True"].value',
    "addresses",
    f"{EXT}:manager",
    f"{EXT}:manager.value",
    f"{EXT}:employeeNumber",
    EXT,
    "urn:example:custom:2.0:User:x",
    "meta.version",
    "id",
    "members",
    'members[value eq "a"]',
    'members[value eq "a" or value eq "b"]',
    'members[type eq "User"]',
    "nope",
    "emails[",
    "",
]
paths = st.one_of(st.sampled_from(PATHS), st.text(max_size=30))
op_names = st.sampled_from(["add", "Add", "replace", "Replace", "remove", "REMOVE", "move", ""])
operations = st.one_of(
    st.fixed_dictionaries(
        {"op": op_names},
        optional={"path": st.one_of(paths, json_scalars), "value": json_values},
    ),
    json_values,
)


def _apply(resource: dict[str, Any], ops: list[Any], resource_type: Any) -> PatchResult | None:
    """Apply; None on ScimError, and the input must be unchanged either way."""
    before = copy.deepcopy(resource)
    result: PatchResult | None = None
    status = 0
    try:
        result = apply_patch(resource, ops, resource_type=resource_type)
    except ScimError as error:
        status = error.status
    assert result is not None or status == 400
    assert resource == before
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(st.lists(operations, max_size=4))
def test_patch_raises_only_scim_errors_and_never_mutates_its_input(ops: list[Any]) -> None:
    _apply(USER_RESOURCE, ops, USER)
    _apply(GROUP_RESOURCE, ops, GROUP)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(json_values)
def test_normalise_raises_only_scim_errors(body: Any) -> None:
    for resource_type in (USER, GROUP):
        status = 0
        try:
            normalise_resource(body, resource_type)
        except ScimError as error:
            status = error.status
        assert status in (0, 400)


# Valid operations: each of these, applied twice, gives what it gives once.
names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8
)
booleans = st.one_of(st.booleans(), st.sampled_from(["True", "False", "true", "FALSE"]))
emails = st.fixed_dictionaries(
    {"value": names},
    optional={"type": st.sampled_from(["work", "home", "other"]), "primary": booleans},
)
valued_paths = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                "displayName",
                "nickName",
                "title",
                "name.givenName",
                "name.familyName",
                f"{EXT}:department",
                f"{EXT}:manager",
                'emails[type eq "work"].value',
                'emails[type eq "other"].value',
                'phoneNumbers[type eq "mobile"].value',
                'addresses[type eq "work"].locality',
                "externalId",
            ]
        ),
        st.one_of(names, st.just("")),
    ),
    st.tuples(st.sampled_from(["active", 'emails[type eq "home"].primary']), booleans),
    st.tuples(st.just("emails"), st.lists(emails, max_size=3)),
    st.tuples(
        st.just("name"),
        st.fixed_dictionaries({}, optional={"givenName": names, "middleName": names}),
    ),
    st.tuples(st.just(f"{EXT}:manager"), st.fixed_dictionaries({"value": names})),
)


def _attribute_of(path: str) -> str:
    return path.split("[")[0].rpartition(":")[2].split(".")[0].casefold()


valid_operations = st.one_of(
    st.builds(
        lambda op, pv: {"op": op, "path": pv[0], "value": pv[1]},
        st.sampled_from(["add", "Replace"]),
        valued_paths,
    ),
    st.builds(
        lambda op, pvs: {"op": op, "value": dict(pvs)},
        st.sampled_from(["Add", "replace"]),
        # One key per attribute: two keys on one attribute are two operations.
        st.lists(valued_paths, max_size=3, unique_by=lambda pv: _attribute_of(pv[0])),
    ),
    st.builds(lambda pv: {"op": "remove", "path": pv[0]}, valued_paths),
)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(valid_operations)
def test_applying_an_operation_twice_equals_applying_it_once(operation: dict[str, Any]) -> None:
    once = apply_patch(USER_RESOURCE, [operation], resource_type=USER)
    twice = apply_patch(once.resource, [operation], resource_type=USER)
    assert twice.resource == once.resource
    assert not twice.changed


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(st.lists(valid_operations, max_size=4), operations)
def test_a_failing_operation_undoes_the_whole_request(
    prefix: list[dict[str, Any]], last: Any
) -> None:
    try:
        apply_patch(USER_RESOURCE, [*prefix, last], resource_type=USER)
    except ScimError:
        # Atomic: the valid prefix alone still applies, and nothing leaked out.
        apply_patch(USER_RESOURCE, prefix, resource_type=USER)
    assert USER_RESOURCE["emails"][0]["primary"] is True


# Group members: the engine's sets, applied to a membership, agree with
# applying each operation to that membership one after the other.
member_ids = st.sampled_from(["a", "b", "c", "d", "e"])
member_lists = st.lists(member_ids, max_size=4)


def _values(ids: list[str], form: int) -> Any:
    if form == 0:
        return [{"value": i} for i in ids]
    if form == 1:
        return [{"value": i, "$ref": None, "display": i.upper()} for i in ids]
    return ids


member_operations: st.SearchStrategy[tuple[str, list[str], int]] = st.one_of(
    st.tuples(st.just("add"), member_lists, st.integers(0, 2)),
    st.tuples(st.just("remove-values"), member_lists.filter(bool), st.integers(0, 2)),
    st.tuples(st.just("remove-filter"), member_lists.filter(bool), st.just(0)),
    st.tuples(st.just("remove-all"), st.just([]), st.just(0)),
    st.tuples(st.just("replace"), member_lists, st.integers(0, 2)),
)


def _request(kind: str, ids: list[str], form: int) -> dict[str, Any]:
    if kind == "add":
        return {"op": "Add", "path": "members", "value": _values(ids, form)}
    if kind == "remove-values":
        return {"op": "Remove", "path": "members", "value": _values(ids, form)}
    if kind == "remove-filter":
        terms = " or ".join(f'value eq "{i}"' for i in ids)
        return {"op": "remove", "path": f"members[{terms}]"}
    if kind == "remove-all":
        return {"op": "remove", "path": "members"}
    return {"op": "replace", "path": "members", "value": _values(ids, form)}


def _model(members: set[str], kind: str, ids: list[str]) -> set[str]:
    if kind == "add":
        return members | set(ids)
    if kind in ("remove-values", "remove-filter"):
        return members - set(ids)
    if kind == "remove-all":
        return set()
    return set(ids)


def _membership(current: set[str], result: PatchResult) -> set[str]:
    if result.members_replaced is not None:
        assert not result.members_added
        assert not result.members_removed
        return set(result.members_replaced)
    assert not result.members_added & result.members_removed
    return (current | result.members_added) - result.members_removed


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(st.sets(member_ids), st.lists(member_operations, min_size=1, max_size=5))
def test_member_sets_agree_with_applying_each_operation_in_turn(
    current: set[str], steps: list[tuple[str, list[str], int]]
) -> None:
    result = apply_patch(GROUP_RESOURCE, [_request(*step) for step in steps], resource_type=GROUP)
    expected = set(current)
    for kind, ids, _ in steps:
        expected = _model(expected, kind, ids)
    assert _membership(current, result) == expected
    assert result.resource == GROUP_RESOURCE


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_MACHINE)
@given(
    st.sets(member_ids), st.sets(st.sampled_from(["x", "y", "z"]), min_size=1), st.integers(0, 2)
)
def test_adding_then_removing_a_member_set_round_trips(
    current: set[str], added: set[str], form: int
) -> None:

    ids = sorted(added)
    first = apply_patch(GROUP_RESOURCE, [_request("add", ids, form)], resource_type=GROUP)
    after_add = _membership(current, first)
    assert after_add == current | added
    second = apply_patch(
        GROUP_RESOURCE, [_request("remove-values", ids, form)], resource_type=GROUP
    )
    assert _membership(after_add, second) == current
