"""The whole browser sign-in over real HTTP: gateway under uvicorn, oidc-provider as Entra."""

from __future__ import annotations

from tests.sso.browser import Browser
from tests.sso.conftest import Stack


def test_username_equal_to_primary_email_signs_in(stack: Stack, browser: Browser) -> None:
    page = stack.sign_in(browser, "ann")

    assert page.status_code == 200, page.text
    assert str(page.url) == f"{stack.gateway}/user/external/me"
    assert "You are signed in as ann@contoso.com." in page.text
