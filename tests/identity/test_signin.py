"""Rule 12 as a table: each case's verdict, who must act, and what the page says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identity.signin import (
    Actor,
    IntegrationState,
    KnownUser,
    SignInClaims,
    Verdict,
    decide,
)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
READY = IntegrationState(enabled=True, validated=True, entra_tenant_id=TENANT)
ANN = KnownUser(1, "ann@contoso.com", active=True, synced=True, entra_object_id="oid-ann")
BOB = KnownUser(2, "bob.smith@contoso.com", active=True, synced=True, entra_object_id="oid-bob")
GONE = KnownUser(3, "dave@contoso.com", active=False, synced=True, entra_object_id="oid-dave")
BY_HAND = KnownUser(4, "hand@contoso.com", active=True, synced=False, entra_object_id=None)
NO_OID = KnownUser(5, "scim@contoso.com", active=True, synced=True, entra_object_id=None)


def token(
    username: str | None, oid: str | None = "oid-ann", tid: str | None = TENANT
) -> SignInClaims:
    return SignInClaims(preferred_username=username, oid=oid, tid=tid)


CASES = [
    # (name, claims, integration, by username, by object id, verdict, user id)
    ("equal", token("ann@contoso.com"), READY, ANN, ANN, Verdict.ADMITTED, 1),
    ("case and spaces", token("  ANN@Contoso.COM "), READY, ANN, ANN, Verdict.ADMITTED, 1),
    (
        "sync knows no oid",
        token("scim@contoso.com", "any"),
        READY,
        NO_OID,
        None,
        Verdict.ADMITTED,
        5,
    ),
    ("oid upper case", token("ann@contoso.com", "OID-ANN"), READY, ANN, ANN, Verdict.ADMITTED, 1),
    ("no integration", token("ann@contoso.com"), None, ANN, ANN, Verdict.INTEGRATION_MISSING, None),
    (
        "disabled",
        token("ann@contoso.com"),
        IntegrationState(False, True, TENANT),
        ANN,
        ANN,
        Verdict.INTEGRATION_DISABLED,
        None,
    ),
    (
        "not validated",
        token("ann@contoso.com"),
        IntegrationState(True, False, TENANT),
        ANN,
        ANN,
        Verdict.INTEGRATION_NOT_VALIDATED,
        None,
    ),
    (
        "other tenant",
        token("ann@contoso.com", tid=OTHER),
        READY,
        ANN,
        ANN,
        Verdict.WRONG_TENANT,
        None,
    ),
    ("no tid", token("ann@contoso.com", tid=None), READY, ANN, ANN, Verdict.WRONG_TENANT, None),
    ("no username", token(None), READY, None, ANN, Verdict.NO_USERNAME, None),
    ("blank username", token("  "), READY, None, ANN, Verdict.NO_USERNAME, None),
    (
        "mismatch",
        token("bob@contoso.com", "oid-bob"),
        READY,
        None,
        BOB,
        Verdict.USERNAME_MISMATCH,
        2,
    ),
    (
        "unknown",
        token("zed@contoso.com", "oid-zed"),
        READY,
        None,
        None,
        Verdict.NO_SYNCED_USER,
        None,
    ),
    (
        "by hand only",
        token("hand@contoso.com", "x"),
        READY,
        BY_HAND,
        None,
        Verdict.NO_SYNCED_USER,
        None,
    ),
    (
        "deactivated",
        token("dave@contoso.com", "oid-dave"),
        READY,
        GONE,
        GONE,
        Verdict.USER_DEACTIVATED,
        3,
    ),
    (
        "recycled username",
        token("ann@contoso.com", "oid-new"),
        READY,
        ANN,
        None,
        Verdict.OBJECT_ID_MISMATCH,
        1,
    ),
    (
        "token without oid",
        token("ann@contoso.com", None),
        READY,
        ANN,
        None,
        Verdict.OBJECT_ID_MISMATCH,
        1,
    ),
]


@pytest.mark.parametrize(
    ("claims", "integration", "by_username", "by_oid", "verdict", "user_id"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_12_table(
    claims: SignInClaims,
    integration: IntegrationState | None,
    by_username: KnownUser | None,
    by_oid: KnownUser | None,
    verdict: Verdict,
    user_id: int | None,
) -> None:
    decision = decide(claims, integration, by_username, by_oid)

    assert decision.verdict is verdict
    assert decision.user_id == user_id
    assert decision.admitted is (verdict is Verdict.ADMITTED)
    if not decision.admitted:
        assert decision.message
        assert decision.fix
        assert decision.actor is not Actor.NOBODY


def test_mismatch_names_both_values_and_the_fix() -> None:
    decision = decide(token("bob@contoso.com", "oid-bob"), READY, None, BOB)

    assert decision.message.startswith(
        "You signed in as bob@contoso.com; your Primary Email is bob.smith@contoso.com."
    )
    assert decision.fix == "Make the Primary Email and the Username the same in Entra ID."
    assert decision.actor is Actor.ADMIN
    assert decision.details == {
        "user_name": "bob@contoso.com",
        "primary_email": "bob.smith@contoso.com",
    }


def test_another_tenant_is_for_the_user_to_fix() -> None:
    decision = decide(token("ann@contoso.com", tid=OTHER), READY, ANN, ANN)
    assert decision.actor is Actor.USER


@given(username=st.emails(), oid=st.uuids().map(str))
def test_nobody_is_admitted_without_a_synced_user_of_that_username(username: str, oid: str) -> None:
    # Whatever else the token says (its email claim is not even an input).
    decision = decide(token(username, oid), READY, None, None)
    assert not decision.admitted


@given(username=st.emails())
def test_admission_is_by_the_username_found_not_by_another_user(username: str) -> None:
    # The store found nobody by this username, but the oid belongs to Ann.
    decision = decide(token(username, "oid-ann"), READY, None, ANN)
    assert not decision.admitted
