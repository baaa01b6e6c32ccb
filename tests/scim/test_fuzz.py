"""Property: no generated request makes the server answer 5xx or lose data.

Random filters, PATCH bodies and resource bodies are sent through the app;
each answer is a success or a SCIM 4xx error with the RFC 7644 §3.12 body,
and a failed PATCH leaves the resource as it was.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scim.client import ENTERPRISE, ERROR_SCHEMA, entra_user
from tests.scim.conftest import Tenant

PATHS = [
    "displayName",
    "title",
    "active",
    "emails",
    'emails[type eq "work"].value',
    'emails[type eq "work" and primary eq true]',
    'phoneNumbers[type eq "mobile"].value',
    "name.givenName",
    "name",
    f"{ENTERPRISE}:manager",
    f"{ENTERPRISE}:employeeNumber",
    "members",
    'members[value eq "x"]',
    "userName",
    "id",
    "meta.version",
    "nope",
    "emails[",
    "",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["True", ""]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
OPERATION = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Replace", "remove", "REMOVE", "move", ""])},
    optional={"path": st.sampled_from(PATHS), "value": JSON},
)
FILTER_WORDS = st.sampled_from(
    [
        "userName",
        "emails",
        "[",
        "]",
        "(",
        ")",
        "eq",
        "co",
        "pr",
        "and",
        "or",
        "not",
        '"a"',
        "true",
        "null",
        "1",
        ".",
        "value",
        "type",
        "meta.created",
    ]
)


def _is_scim_answer(answer: Any) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        body = answer.json()
        assert body["schemas"] == [ERROR_SCHEMA]
        assert body["status"] == str(answer.status_code)


def test_generated_patches_never_fail_the_server(acme: Tenant) -> None:
    user = acme.scim.post("/Users", entra_user("ann", title="Engineer")).json()
    target = f"/Users/{user['id']}"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(OPERATION, min_size=1, max_size=3))
    def check(operations: list[dict[str, Any]]) -> None:
        before = acme.scim.get(target).json()
        answer = acme.scim.patch(target, operations)
        _is_scim_answer(answer)
        if answer.status_code >= 400:
            assert acme.scim.get(target).json() == before

    check()


def test_generated_filters_never_fail_the_server(acme: Tenant) -> None:
    acme.scim.post("/Users", entra_user("ann"))

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(FILTER_WORDS, min_size=1, max_size=8).map(" ".join) | st.text(max_size=20))
    def check(text: str) -> None:
        _is_scim_answer(acme.scim.get("/Users", params={"filter": text}))
        _is_scim_answer(acme.scim.get("/Groups", params={"filter": text}))

    check()


def test_generated_bodies_never_fail_the_server(acme: Tenant) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "userName",
                    "emails",
                    "active",
                    "name",
                    ENTERPRISE,
                    "members",
                    "displayName",
                    "schemas",
                    "x",
                ]
            ),
            JSON,
            max_size=5,
        )
    )
    def check(body: dict[str, Any]) -> None:
        _is_scim_answer(acme.scim.post("/Users", body))
        _is_scim_answer(acme.scim.post("/Groups", body))

    check()
