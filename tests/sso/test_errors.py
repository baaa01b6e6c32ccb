"""Entra's errors become pages that say what happened, who must act, and the ids support needs."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identity.signin import IntegrationState, KnownUser, SignInClaims, decide
from sso import errors, pages

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

TRACE = "5d4e2a1b-0000-4000-8000-00000000beef"
CORRELATION = "9a8b7c6d-0000-4000-8000-00000000cafe"


def description(code: str, text: str = "Something went wrong.") -> str:
    return (
        f"AADSTS{code}: {text}\r\nTrace ID: {TRACE}\r\nCorrelation ID: {CORRELATION}\r\n"
        "Timestamp: 2026-11-25 10:42:17Z"
    )


# (AADSTS code, error, words of the page's title, who must act)
LISTED = [
    ("50011", "invalid_request", "redirect URI is not registered", "administrator"),
    ("65001", "consent_required", "Consent is missing", "administrator"),
    ("65004", "access_denied", "Consent was declined", "You can fix this yourself."),
    ("700016", "unauthorized_client", "app is not found in this tenant", "administrator"),
    ("50105", "access_denied", "not assigned to the app", "administrator"),
    ("53003", "access_denied", "Conditional Access", "administrator"),
    ("7000215", "invalid_client", "client secret is wrong", "administrator"),
    ("7000222", "invalid_client", "client secret has expired", "administrator"),
]


@pytest.mark.parametrize(("code", "error", "title", "who"), LISTED, ids=[c[0] for c in LISTED])
def test_each_listed_aadsts_code_gets_its_own_page(
    code: str, error: str, title: str, who: str
) -> None:
    parsed = errors.from_redirect(
        {"error": error, "error_description": description(code), "state": "s"}
    )
    page = pages.entra_error_page(parsed, "https://auth.example/user/external", status=400)
    text = page.body.decode()

    assert parsed.code == f"aadsts_{code}"
    assert title in text
    assert who in text
    assert TRACE in text
    assert CORRELATION in text
    assert "2026-11-25 10:42:17Z" in text
    assert page.status_code == 400
    assert page.headers["cache-control"] == "no-store"


def test_redirect_uri_page_names_the_uri_to_register() -> None:
    parsed = errors.from_redirect(
        {"error": "invalid_request", "error_description": description("50011")}
    )
    text = pages.entra_error_page(parsed, "https://auth.example/user/external", status=400).body
    assert b"add https://auth.example/user/external as a Web redirect URI" in text


def test_token_endpoint_error_json_is_parsed() -> None:
    body = {
        "error": "invalid_client",
        "error_description": "AADSTS7000222: The provided client secret keys are expired.",
        "error_codes": [7000222],
        "trace_id": TRACE,
        "correlation_id": CORRELATION,
    }
    parsed = errors.from_token_response(body, 401)

    assert parsed.code == "aadsts_7000222"
    assert parsed.trace_id == TRACE
    assert parsed.correlation_id == CORRELATION
    assert parsed.advice().title == "The client secret has expired"


def test_error_without_aadsts_is_generic_and_named_after_the_error() -> None:
    parsed = errors.from_redirect({"error": "login_required"})
    assert parsed.code == "entra_login_required"
    assert parsed.advice().title == "Microsoft Entra ID refused the sign-in"


def test_token_endpoint_answer_that_is_not_json() -> None:
    assert errors.from_token_response(None, 503).code == "entra_http_503"


def test_everything_from_entra_is_escaped_and_bounded() -> None:
    hostile = "<script>alert(1)</script>" + "x" * 5000
    parsed = errors.from_redirect(
        {"error": '"><img src=x onerror=alert(1)>', "error_description": hostile}
    )
    text = pages.entra_error_page(parsed, "https://auth.example/user/external", status=400).body
    assert b"<script>" not in text
    assert b"<img" not in text
    assert len(text) < 4000


def test_ids_that_are_not_guids_are_not_shown_as_ids() -> None:
    parsed = errors.from_token_response(
        {"error": "invalid_client", "trace_id": "<b>x</b>", "correlation_id": 5}, 400
    )
    assert parsed.trace_id is None
    assert parsed.correlation_id is None


@given(
    error=st.text(max_size=200),
    description=st.text(max_size=1000),
    code=st.integers(min_value=0, max_value=99_999_999),
)
def test_any_error_answer_gives_an_escaped_page(error: str, description: str, code: int) -> None:
    params = {"error": error, "error_description": f"AADSTS{code}: {description}"}
    parsed = errors.from_redirect(params)
    text = pages.entra_error_page(parsed, "https://auth.example/user/external", status=400).body

    # Nothing from the answer opens a tag: the same answer without any "<"
    # gives a page with exactly as many "<", all the page's own.
    harmless = dataclasses.replace(
        parsed,
        error=parsed.error.replace("<", "x"),
        description=parsed.description.replace("<", "x"),
    )
    plain = pages.entra_error_page(harmless, "https://auth.example/user/external", status=400)
    assert text.count(b"<") == plain.body.count(b"<")
    assert text.count(b"<h1>") == 1
    assert parsed.code.startswith(("aadsts_", "entra_"))


def test_refusal_pages_escape_what_the_token_said() -> None:
    hostile = '<img src=x onerror="alert(1)">@contoso.com'
    owner = KnownUser(7, "bob.smith@contoso.com", True, True, "oid-bob")
    decision = decide(
        SignInClaims(hostile, "oid-bob", TENANT),
        IntegrationState(True, True, TENANT),
        None,
        owner,
    )
    page = pages.refusal_page(decision)

    assert page.status_code == 403
    assert b"<img" not in page.body
    assert b"&lt;img src=x" in page.body
    assert b"username_mismatch" in page.body
