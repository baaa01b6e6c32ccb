"""ID token validation: each check of sso.tokens, one failure at a time."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sso.tokens import (
    IssuerMismatchError,
    TokenRejectedError,
    claim_checks,
    inspect_token,
    pinned_tenant,
    validate_id_token,
)
from tests.sso.tokens_helpers import (
    CLIENT,
    ISSUER,
    KEYS,
    LOGIN,
    NONCE,
    NOW,
    OTHER,
    TEMPLATE_ISSUER,
    TENANT,
    claims,
    expectation,
    hs256,
    rsa_key,
    sign,
)


def rejected(token: str, **expected: Any) -> TokenRejectedError:
    with pytest.raises(TokenRejectedError) as caught:
        validate_id_token(token, KEYS, expectation(**expected))
    return caught.value


def test_a_valid_entra_token_passes_every_check() -> None:
    report = inspect_token(sign(claims()), KEYS, expectation())

    assert report.valid
    assert [c.name for c in report.checks] == [
        "signature",
        "issuer",
        "tenant",
        "audience",
        "nonce",
        "expiry",
        "not_before",
        "issued_at",
    ]
    assert report.claims["preferred_username"] == "ann@contoso.com"


def test_wrong_audience_is_refused_even_when_azp_names_our_client() -> None:
    # authlib's CodeIDToken lets this through; Entra never issues it to us.
    error = rejected(sign(claims(aud="00000003-0000-0000-c000-000000000000", azp=CLIENT)))
    assert error.code == "bad_audience"


@pytest.mark.parametrize(
    "aud", [[CLIENT, "another-app"], ["another-app", CLIENT], [], None, f"{CLIENT} "]
)
def test_audience_must_be_exactly_our_client(aud: object) -> None:
    assert rejected(sign(claims(aud=aud, azp=CLIENT))).code == "bad_audience"


def test_audience_as_a_one_item_list_is_accepted() -> None:
    assert validate_id_token(sign(claims(aud=[CLIENT])), KEYS, expectation())["aud"] == [CLIENT]


def test_azp_naming_another_client_is_refused() -> None:
    assert rejected(sign(claims(azp="another-app"))).code == "bad_audience"


@given(
    aud=st.one_of(st.text(max_size=40), st.lists(st.text(max_size=40), max_size=3)).filter(
        lambda a: a not in (CLIENT, [CLIENT])
    ),
    azp=st.one_of(st.none(), st.just(CLIENT), st.text(max_size=40)),
)
def test_no_audience_but_ours_passes_whatever_azp_says(aud: object, azp: str | None) -> None:
    checks = {c.name: c for c in claim_checks(claims(aud=aud, azp=azp), expectation())}
    assert not checks["audience"].passed


def test_issuer_of_another_tenant_is_refused() -> None:
    error = rejected(sign(claims(iss=f"{LOGIN}/{OTHER}/v2.0")))
    assert error.code == "bad_issuer"


def test_v1_issuer_is_refused() -> None:
    assert rejected(sign(claims(iss=f"https://sts.windows.net/{TENANT}/"))).code == "bad_issuer"


def test_template_issuer_resolves_with_the_configured_tenant() -> None:
    token = sign(claims())
    assert validate_id_token(token, KEYS, expectation(issuer=TEMPLATE_ISSUER))["tid"] == TENANT


def test_template_issuer_with_a_non_guid_tid_is_refused() -> None:
    token = sign(claims(tid="contoso.onmicrosoft.com", iss=f"{LOGIN}/contoso.onmicrosoft.com/v2.0"))
    assert rejected(token, issuer=TEMPLATE_ISSUER).code == "bad_issuer"


def test_template_issuer_with_a_foreign_tid_is_another_tenant() -> None:
    # The issuer resolves consistently, but the tenant is not the configured one.
    token = sign(claims(tid=OTHER, iss=f"{LOGIN}/{OTHER}/v2.0"))
    report = inspect_token(token, KEYS, expectation(issuer=TEMPLATE_ISSUER))
    failed = [c.name for c in report.checks if not c.passed]
    assert failed == ["tenant"]
    assert rejected(token, issuer=TEMPLATE_ISSUER).code == "wrong_tenant"


def test_tid_of_another_tenant_under_our_issuer_is_refused() -> None:
    assert rejected(sign(claims(tid=OTHER))).code == "wrong_tenant"


def test_expired_token_is_refused() -> None:
    assert rejected(sign(claims(exp=int(NOW) - 121))).code == "expired"


def test_expiry_allows_the_configured_skew_and_no_more() -> None:
    token = sign(claims(exp=int(NOW) - 100))
    assert validate_id_token(token, KEYS, expectation(clock_skew=120))
    assert rejected(token, clock_skew=60).code == "expired"


def test_not_yet_valid_token_is_refused() -> None:
    assert rejected(sign(claims(nbf=int(NOW) + 600))).code == "not_yet_valid"


def test_token_issued_in_the_future_is_refused() -> None:
    assert rejected(sign(claims(iat=int(NOW) + 600, nbf=None))).code == "not_yet_valid"


def test_missing_exp_is_refused() -> None:
    assert rejected(sign(claims(exp=None))).code == "expired"


def test_skew_is_bounded() -> None:
    with pytest.raises(ValueError, match="clock skew"):
        expectation(clock_skew=301)


@pytest.mark.parametrize("nonce", ["another-nonce", None, NONCE.upper(), 12])
def test_wrong_or_missing_nonce_is_refused(nonce: object) -> None:
    assert rejected(sign(claims(nonce=nonce))).code == "bad_nonce"


def test_unknown_kid_is_refused() -> None:
    assert rejected(sign(claims(), rsa_key("someone-elses"))).code == "unknown_kid"


def test_key_with_the_right_kid_but_wrong_material_is_refused() -> None:
    impostor = rsa_key("key-1")
    assert rejected(sign(claims(), impostor)).code == "bad_signature"


def test_tampered_payload_is_refused() -> None:
    header, _payload, signature = sign(claims()).split(".")
    _, forged_payload, _ = sign(claims(preferred_username="boss@contoso.com"), rsa_key("x")).split(
        "."
    )
    assert rejected(f"{header}.{forged_payload}.{signature}").code == "bad_signature"


def test_symmetric_algorithm_is_refused() -> None:
    # The classic confusion: an HMAC keyed with public knowledge.
    assert rejected(hs256(claims())).code == "unsupported_algorithm"


def test_unsigned_token_is_refused() -> None:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'none'})}.{part(claims())}."
    assert rejected(token).code in {"unsupported_algorithm", "malformed_token"}


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "..", "\u00e9.\u00e9.\u00e9"])
def test_garbage_is_malformed(garbage: str) -> None:
    assert rejected(garbage).code == "malformed_token"


def test_report_shows_claims_of_a_bad_signature_but_does_not_pass() -> None:
    report = inspect_token(sign(claims(), rsa_key("key-1")), KEYS, expectation())

    assert not report.valid
    assert report.first_failure is not None
    assert report.first_failure.name == "signature"
    assert report.claims["preferred_username"] == "ann@contoso.com"


def test_pinned_tenant_from_a_guid_issuer() -> None:
    assert pinned_tenant(TENANT, ISSUER, LOGIN) == TENANT
    # A domain name is pinned to the GUID Entra's configuration names.
    assert pinned_tenant("contoso.onmicrosoft.com", ISSUER, LOGIN) == TENANT


@pytest.mark.parametrize(
    ("configured", "issuer"),
    [
        (TENANT, f"{LOGIN}/{OTHER}/v2.0"),
        (TENANT, f"https://evil.example/{TENANT}/v2.0"),
        (TENANT, f"{LOGIN}/{TENANT}"),
        ("contoso.onmicrosoft.com", TEMPLATE_ISSUER),
        (TENANT, "https://evil.example/{tenantid}/v2.0"),
        ("contoso.onmicrosoft.com", f"{LOGIN}/contoso.onmicrosoft.com/v2.0"),
    ],
)
def test_pinned_tenant_refuses_configurations_naming_another_issuer(
    configured: str, issuer: str
) -> None:
    with pytest.raises(IssuerMismatchError):
        pinned_tenant(configured, issuer, LOGIN)


def test_pinned_tenant_with_a_template_needs_a_guid() -> None:
    assert pinned_tenant(TENANT.upper(), TEMPLATE_ISSUER, LOGIN) == TENANT
