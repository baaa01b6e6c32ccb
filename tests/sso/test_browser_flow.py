"""The whole browser sign-in over real HTTP: gateway under uvicorn, oidc-provider as Entra."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from gateway.store.audit import list_entries
from gateway.store.engine import write_transaction
from gateway.store.queries import table
from tests.sso.browser import Browser
from tests.sso.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENTRA_TENANT,
    OTHER_TENANT,
    RETURN_PREFIX_PATH,
    Stack,
)

SESSION = "gw_sso_session"


def _callback_response(browser: Browser, stack: Stack) -> httpx.Response:
    """The gateway's answer to Entra's redirect back (the redirect URI)."""
    answers = [r for r in browser.history if str(r.url).startswith(f"{stack.callback}?")]
    assert answers, "the browser never came back to the redirect URI"
    return answers[-1]


def _set_cookie(response: httpx.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


def _audit(stack: Stack, tenant: str, action: str) -> list[Any]:
    return [e.after for e in list_entries(stack.engine, tenant, limit=500) if e.action == action]


def test_username_equal_to_primary_email_signs_in(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "ann")

    assert page.status_code == 200, page.text
    assert str(page.url) == f"{stack.gateway}/user/external/me"
    assert "You are signed in as ann@contoso.com." in page.text
    cookie = _set_cookie(_callback_response(browser, stack), SESSION)
    assert cookie is not None
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "path=/user/external" in cookie.lower()
    # The public URL is http here; Secure is set only for https (tests/sso/test_session.py).
    assert "secure" not in attributes
    signed_in = _audit(stack, stack.contoso, "sso.signed_in")
    assert any(e["preferred_username"] == "ann@contoso.com" for e in signed_in)


def test_integration_configured_by_domain_name_signs_in(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "ann", tenant=stack.by_domain)

    assert page.status_code == 200, page.text
    assert "You are signed in as ann@contoso.com." in page.text


def test_another_tenant_is_refused_when_configured_by_domain_name(
    stack: Stack, browser: Browser
) -> None:
    page = stack.sign_in(browser, "eve", tenant=stack.by_domain)

    assert page.status_code == 403
    assert "wrong_tenant" in page.text


def test_username_differing_only_in_case_signs_in(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "carol")

    assert page.status_code == 200, page.text
    assert "You are signed in as carol.jones@contoso.com." in page.text


def test_username_differing_from_primary_email_is_refused_with_both_values(
    stack: Stack, browser: Browser
) -> None:
    page = stack.sign_in(browser, "bob")

    assert page.status_code == 403
    assert "You signed in as bob@contoso.com; your Primary Email is bob.smith@contoso.com." in (
        page.text
    )
    assert "Make the Primary Email and the Username the same in Entra ID." in page.text
    assert "username_mismatch" in page.text
    assert _set_cookie(_callback_response(browser, stack), SESSION) is not None  # the deletion
    assert SESSION not in browser.client.cookies
    refused = _audit(stack, stack.contoso, "sso.refused")
    assert any(
        e["code"] == "username_mismatch" and e["preferred_username"] == "bob@contoso.com"
        for e in refused
    )


def test_user_without_mail_was_never_synced_and_is_refused(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "nomail")

    assert page.status_code == 403
    assert "no_synced_user" in page.text
    assert "No user with the Primary Email nomail@contoso.com has been synced" in page.text


def test_token_from_another_tenant_is_refused(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "eve")

    assert page.status_code == 403
    assert "wrong_tenant" in page.text
    assert "another Entra ID tenant" in page.text
    assert SESSION not in browser.client.cookies


def test_email_claim_naming_someone_else_is_not_used(stack: Stack, browser: Browser) -> None:
    # mallory's token says email=ann@contoso.com; only preferred_username counts.
    page = stack.sign_in(browser, "mallory")

    assert page.status_code == 403
    assert "no_synced_user" in page.text
    assert "ann@contoso.com" not in page.text
    assert browser.get(f"{stack.gateway}/user/external/me").status_code == 401


def test_deactivated_user_is_refused(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "dave")

    assert page.status_code == 403
    assert "user_deactivated" in page.text


def test_reused_username_with_another_object_id_is_refused(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "frank")

    assert page.status_code == 403
    assert "object_id_mismatch" in page.text


def test_disabled_integration_refuses_before_entra(stack: Stack, browser: Browser) -> None:
    page = browser.get(stack.login_url(stack.disabled))

    assert page.status_code == 403
    assert "integration_disabled" in page.text
    assert all(str(r.url).startswith(stack.gateway) for r in browser.history)


def test_unvalidated_integration_is_refused(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "ann", tenant=stack.unvalidated)

    assert page.status_code == 403
    assert "integration_not_validated" in page.text
    assert _audit(stack, stack.unvalidated, "sso.refused")[0]["code"] == (
        "integration_not_validated"
    )


def test_wrong_client_secret_shows_entra_token_error(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "ann", tenant=stack.bad_secret)

    assert page.status_code == 502
    assert "entra_invalid_client" in page.text
    assert "not-the-secret" not in page.text


def test_authorize_request_is_code_flow_with_pkce_state_and_nonce(
    stack: Stack, browser: Browser
) -> None:
    start = browser.get(stack.login_url(), stop=lambda url: True)

    assert start.status_code == 303
    authorize = urlsplit(start.headers["location"])
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}".startswith(
        stack.provider.issuer(ENTRA_TENANT)
    )
    assert params["response_type"] == "code"
    assert params["response_mode"] == "query"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == stack.callback
    assert params["scope"] == "openid profile User.Read"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32
    again = Browser()
    try:
        other = urlsplit(again.get(stack.login_url(), stop=lambda url: True).headers["location"])
    finally:
        again.close()
    other_params = {k: v[0] for k, v in parse_qs(other.query).items()}
    assert other_params["state"] != params["state"]
    assert other_params["nonce"] != params["nonce"]


def test_login_hint_and_prompt_reach_entra(stack: Stack, browser: Browser) -> None:
    start = browser.get(
        stack.login_url(login_hint="ann@contoso.com", prompt="login"), stop=lambda url: True
    )
    params = parse_qs(urlsplit(start.headers["location"]).query)
    assert params["login_hint"] == ["ann@contoso.com"]
    assert params["prompt"] == ["login"]


def _until_callback(stack: Stack, browser: Browser, login: str) -> str:
    """Sign in at the provider but stop before the browser returns; the callback URL."""
    stop_at_callback = lambda url: url.startswith(f"{stack.callback}?")  # noqa: E731
    page = browser.get(stack.login_url(), stop=stop_at_callback)
    page = browser.submit(page, {"login": login, "password": "pw"}, stop=stop_at_callback)
    if page.is_redirect:
        return page.headers["location"]
    page = browser.submit(page, stop=stop_at_callback)
    assert page.is_redirect
    return str(page.headers["location"])


def test_replayed_state_is_refused(stack: Stack, browser: Browser) -> None:
    callback = _until_callback(stack, browser, "ann")
    assert browser.get(callback).status_code == 200

    replay = browser.get(callback)

    assert replay.status_code == 400
    assert "state_invalid" in replay.text


def test_state_from_another_browser_is_refused(stack: Stack, browser: Browser) -> None:
    callback = _until_callback(stack, browser, "ann")
    thief = Browser()
    try:
        answer = thief.get(callback)
    finally:
        thief.close()

    assert answer.status_code == 400
    assert "state_foreign" in answer.text
    assert SESSION not in thief.client.cookies
    # Used once, even by the wrong browser: the right one cannot use it afterwards either.
    assert browser.get(callback).status_code == 400


def test_state_older_than_ten_minutes_is_refused(stack: Stack, browser: Browser) -> None:
    callback = _until_callback(stack, browser, "ann")
    pending = table("sso_pending_sign_ins")
    with stack.engine.begin() as conn:
        conn.execute(update(pending).values(expires_at=pending.c.created_at))

    answer = browser.get(callback)

    assert answer.status_code == 400
    assert "state_expired" in answer.text
    assert SESSION not in browser.client.cookies


def test_redirect_uri_without_an_answer_shows_the_session_page(
    stack: Stack, browser: Browser
) -> None:
    page = browser.get(stack.callback)

    assert page.status_code == 401
    assert str(page.url) == f"{stack.gateway}/user/external/me"
    assert "not_signed_in" in page.text


def test_answer_naming_another_issuer_is_refused(stack: Stack, browser: Browser) -> None:
    # RFC 9207: an authorization answer from an issuer we did not send the browser to.
    callback = urlsplit(_until_callback(stack, browser, "ann"))
    params = {k: v[0] for k, v in parse_qs(callback.query).items()}
    assert params["iss"] == stack.provider.issuer(ENTRA_TENANT)
    params["iss"] = stack.provider.issuer(OTHER_TENANT)

    answer = browser.get(f"{stack.callback}?{urlencode(params)}")

    assert answer.status_code == 400
    assert "issuer_mix_up" in answer.text
    assert SESSION not in browser.client.cookies


def test_answer_without_a_code_is_refused(stack: Stack, browser: Browser) -> None:
    callback = urlsplit(_until_callback(stack, browser, "ann"))
    params = {k: v[0] for k, v in parse_qs(callback.query).items() if k != "code"}

    answer = browser.get(f"{stack.callback}?{urlencode(params)}")

    assert answer.status_code == 400
    assert "code_missing" in answer.text


def test_unknown_state_is_refused(stack: Stack, browser: Browser) -> None:
    answer = browser.get(f"{stack.callback}?code=abc&state=made-up")

    assert answer.status_code == 400
    assert "state_invalid" in answer.text


def test_return_to_on_the_allow_list_is_followed(stack: Stack, browser: Browser) -> None:
    target = f"{stack.gateway}{RETURN_PREFIX_PATH}dashboard?x=1"
    stack.sign_in(browser, "ann", return_to=target)

    assert _callback_response(browser, stack).headers["location"] == target


def test_return_to_elsewhere_lands_on_the_signed_in_page(stack: Stack, browser: Browser) -> None:
    for target in ("https://evil.example/app/", f"{stack.gateway}/api/v1/tenants", "//evil"):
        session = Browser()
        try:
            page = stack.sign_in(session, "ann", return_to=target)
            assert _callback_response(session, stack).headers["location"] == "/user/external/me"
            assert "You are signed in as ann@contoso.com." in page.text
        finally:
            session.close()


def test_sign_in_rotates_the_session(stack: Stack, browser: Browser) -> None:
    stack.sign_in(browser, "ann")
    first = browser.client.cookies[SESSION]
    stack.sign_in(browser, "carol", prompt="login")
    second = browser.client.cookies[SESSION]

    assert first != second
    assert "carol.jones@contoso.com" in browser.get(f"{stack.gateway}/user/external/me").text
    stale = httpx.get(
        f"{stack.gateway}/user/external/me", cookies={SESSION: first}, trust_env=False
    )
    assert stale.status_code == 401


def test_logout_ends_the_session_here(stack: Stack, browser: Browser) -> None:
    stack.sign_in(browser, "ann")
    token = browser.client.cookies[SESSION]
    page = browser.get(f"{stack.gateway}/user/external/logout")
    assert "You are signed in as ann@contoso.com." in page.text

    out = browser.submit(page)

    assert out.status_code == 200
    assert "You are signed out." in out.text
    assert SESSION not in browser.client.cookies
    reused = httpx.get(
        f"{stack.gateway}/user/external/me", cookies={SESSION: token}, trust_env=False
    )
    assert reused.status_code == 401
    assert _audit(stack, stack.contoso, "sso.signed_out")


def test_logout_at_entra_too_goes_through_the_end_session_endpoint(
    stack: Stack, browser: Browser
) -> None:
    stack.sign_in(browser, "ann")
    page = browser.get(f"{stack.gateway}/user/external/logout")

    out = browser.submit(page, index=1, stop=lambda url: True)

    location = urlsplit(out.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}".startswith(
        stack.provider.issuer(ENTRA_TENANT)
    )
    params = parse_qs(location.query)
    assert params["post_logout_redirect_uri"] == [f"{stack.callback}/signed-out"]
    assert params["client_id"] == [CLIENT_ID]
    assert SESSION not in browser.client.cookies


def test_entra_error_redirect_becomes_a_page_with_ids(stack: Stack, browser: Browser) -> None:
    start = browser.get(stack.login_url(), stop=lambda url: True)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    description = (
        "AADSTS50105: Your administrator has configured the application to block users "
        "unless they are specifically granted access. <script>alert(1)</script> "
        "Trace ID: 0a1b2c3d-0000-4000-8000-000000000001 "
        "Correlation ID: 0a1b2c3d-0000-4000-8000-000000000002 "
        "Timestamp: 2026-11-25 10:00:00Z"
    )
    query = urlencode({"error": "access_denied", "error_description": description, "state": state})

    page = browser.get(f"{stack.callback}?{query}")

    assert page.status_code == 400
    assert "You are not assigned to the app" in page.text
    assert "Your administrator has to act." in page.text
    assert "aadsts_50105" in page.text
    assert "0a1b2c3d-0000-4000-8000-000000000001" in page.text
    assert "0a1b2c3d-0000-4000-8000-000000000002" in page.text
    assert "<script>" not in page.text
    assert _audit(stack, stack.contoso, "sso.entra_error")[0]["aadsts"] == "50105"


def test_provider_error_without_aadsts_is_explained(stack: Stack, browser: Browser) -> None:
    # prompt=none without a session at the provider: a real OIDC error redirect.
    page = browser.get(stack.login_url(prompt="none"))

    assert page.status_code == 400
    assert "entra_login_required" in page.text


def test_bridge_token_verifies_with_only_the_published_keys(stack: Stack, browser: Browser) -> None:
    stack.sign_in(browser, "ann")
    answer = browser.get(f"{stack.gateway}/user/external/token")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    token = answer.json()["id_token"]

    # A downstream service: discovery, then the keys, then verification. No Entra.
    with httpx.Client(trust_env=False) as downstream:
        discovery = downstream.get(f"{stack.gateway}/.well-known/openid-configuration").json()
        keys = KeySet.import_key_set(downstream.get(discovery["jwks_uri"]).json())
    decoded = jwt.decode(token, keys, algorithms=discovery["id_token_signing_alg_values_supported"])
    claims = decoded.claims
    assert discovery["issuer"] == stack.gateway
    assert claims["iss"] == stack.gateway
    assert claims["aud"] == "timus"
    assert claims["email"] == "ann@contoso.com"
    assert claims["tenant_id"] == stack.contoso
    assert claims["entra_oid"] == "oid-ann"
    assert "Microsoft Entra ID Users" in claims["teams"]
    assert claims["tags"] == ["Sales"]
    assert claims["sites"] == [{"site_id": str(stack.site_id), "remote_access": True}]
    assert claims["exp"] - claims["iat"] == 600


def test_bridge_token_needs_a_session(stack: Stack, browser: Browser) -> None:
    answer = browser.get(f"{stack.gateway}/user/external/token")

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_signed_in"


def test_admin_test_sign_in_shows_claims_and_checks_without_a_session(
    stack: Stack, browser: Browser
) -> None:
    with stack.admin() as admin:
        created = admin.post(f"/tenants/{stack.contoso}/integrations/entra/sign-in-tests")
        assert created.status_code == 201, created.text
        test = created.json()
        assert test["status"] == "pending"

        page = stack.at_provider(browser, browser.get(test["start_url"]), "bob")

        assert page.status_code == 200
        assert "This was a test sign-in: no session was created." in page.text
        assert "username_mismatch" in page.text
        assert "preferred_username" in page.text
        assert SESSION not in browser.client.cookies
        result = admin.get(
            f"/tenants/{stack.contoso}/integrations/entra/sign-in-tests/{test['id']}"
        ).json()
    assert result["status"] == "completed"
    assert result["result"]["verdict"] == "username_mismatch"
    assert result["result"]["claims"]["preferred_username"] == "bob@contoso.com"
    checks = {c["name"]: c["passed"] for c in result["result"]["checks"]}
    assert checks == {
        "signature": True,
        "issuer": True,
        "tenant": True,
        "audience": True,
        "nonce": True,
        "expiry": True,
        "not_before": True,
        "issued_at": True,
        "integration_enabled": True,
        "integration_validated": True,
        "sign_in_rule": False,
    }
    # The link works once.
    assert browser.get(test["start_url"]).status_code == 400


def test_no_secret_or_token_reaches_the_log(
    stack: Stack, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stack.sign_in(browser, "ann")
    other = Browser()
    try:
        stack.sign_in(other, "ann", tenant=stack.bad_secret)
    finally:
        other.close()
    token = browser.get(f"{stack.gateway}/user/external/token").json()["id_token"]
    callback = _callback_response(browser, stack)
    code = parse_qs(urlsplit(str(callback.url)).query)["code"][0]

    # The gateway runs in other threads than the test's own browser (whose
    # client logs its requests, codes included).
    served = [r for r in caplog.records if r.threadName != threading.main_thread().name]
    assert served
    logged = "\n".join(record.getMessage() for record in served)
    for secret in (CLIENT_SECRET, "not-the-secret", code, token, browser.client.cookies[SESSION]):
        assert secret not in logged


def _start_test(stack: Stack, tenant: str) -> dict[str, Any]:
    with stack.admin() as admin:
        created = admin.post(f"/tenants/{tenant}/integrations/entra/sign-in-tests")
    assert created.status_code == 201, created.text
    test: dict[str, Any] = created.json()
    return test


def _test_result(stack: Stack, tenant: str, test_id: str) -> dict[str, Any]:
    with stack.admin() as admin:
        answer = admin.get(f"/tenants/{tenant}/integrations/entra/sign-in-tests/{test_id}")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_admin_test_sign_in_works_while_the_integration_is_disabled(
    stack: Stack, browser: Browser
) -> None:
    test = _start_test(stack, stack.disabled)

    page = stack.at_provider(browser, browser.get(test["start_url"]), "ann")

    assert page.status_code == 200
    result = _test_result(stack, stack.disabled, test["id"])["result"]
    assert result["verdict"] == "integration_disabled"
    assert result["token_valid"] is True
    checks = {c["name"]: c["passed"] for c in result["checks"]}
    assert checks["integration_enabled"] is False
    assert checks["signature"] is True


def test_admin_test_sign_in_records_an_entra_error(stack: Stack, browser: Browser) -> None:
    test = _start_test(stack, stack.contoso)
    start = browser.get(test["start_url"], stop=lambda url: True)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    query = urlencode(
        {
            "error": "consent_required",
            "error_description": "AADSTS65001: The user or administrator has not consented.",
            "state": state,
        }
    )

    page = browser.get(f"{stack.callback}?{query}")

    assert page.status_code == 400
    assert "Consent is missing" in page.text
    result = _test_result(stack, stack.contoso, test["id"])
    assert result["status"] == "completed"
    assert result["result"]["verdict"] == "aadsts_65001"
    assert result["result"]["admitted"] is False


def test_callback_waits_for_a_held_write_lock_off_the_event_loop(
    stack: Stack, browser: Browser
) -> None:
    """On SQLite the callback's transactions run on the event loop only when the
    write lock is free at once: while another transaction holds it, the callback
    waits for it in a worker thread and the server keeps answering meanwhile."""
    if stack.engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    callback = _until_callback(stack, browser, "ann")
    held, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with write_transaction(stack.engine):
            held.set()
            release.wait(20)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert held.wait(5)
    answers: dict[str, httpx.Response] = {}
    back = threading.Thread(target=lambda: answers.setdefault("page", browser.get(callback)))
    back.start()
    try:
        time.sleep(0.5)
        assert back.is_alive(), "the callback did not wait for the write lock"
        started = time.monotonic()
        other = httpx.get(f"{stack.gateway}/user/external/signed-out", timeout=5)
        assert other.status_code == 200
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join()
        back.join(30)

    page = answers["page"]
    assert page.status_code == 200, page.text
    assert "You are signed in as ann@contoso.com." in page.text
