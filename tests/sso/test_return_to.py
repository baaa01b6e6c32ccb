"""return_to: only allow-listed destinations, so sign-in is no open redirect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sso.return_to import allowed_return_to

ALLOWED = ["https://app.timuscloud.com/", "https://portal.timuscloud.com/console"]


@pytest.mark.parametrize(
    "target",
    [
        "https://app.timuscloud.com/",
        "https://app.timuscloud.com/dashboard?tab=2#x",
        "https://APP.timuscloud.com/dashboard",
        "https://portal.timuscloud.com/console",
        "https://portal.timuscloud.com/console/sites/4",
    ],
)
def test_allowed_destinations(target: str) -> None:
    assert allowed_return_to(target, ALLOWED) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://app.timuscloud.com/",  # scheme downgrade
        "https://app.timuscloud.com.evil.example/",
        "https://app.timuscloud.com:8443/",
        "https://app.timuscloud.com@evil.example/",
        "https://user:pw@app.timuscloud.com/",
        "//evil.example/",
        "/user/external/me",
        "https://portal.timuscloud.com/consolex",
        "https://portal.timuscloud.com/",
        "https:\\\\evil.example/",
        "https://app.timuscloud.com/\r\nLocation: https://evil.example/",
        "javascript:alert(1)//https://app.timuscloud.com/",
        "https://app.timuscloud.com/ x",
        "",
        None,
        "https://app.timuscloud.com/" + "a" * 3000,
    ],
)
def test_refused_destinations(target: str | None) -> None:
    assert allowed_return_to(target, ALLOWED) is None


def test_nothing_is_allowed_without_an_allow_list() -> None:
    assert allowed_return_to("https://app.timuscloud.com/", []) is None


@given(st.text(max_size=200))
def test_anything_accepted_is_on_an_allowed_origin(target: str) -> None:
    accepted = allowed_return_to(target, ALLOWED)
    if accepted is not None:
        assert accepted.lower().startswith(
            ("https://app.timuscloud.com/", "https://portal.timuscloud.com/console")
        )


@given(host=st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True), path=st.text(max_size=40))
def test_no_other_host_is_accepted(host: str, path: str) -> None:
    if host in ("app.timuscloud.com", "portal.timuscloud.com"):
        return
    assert allowed_return_to(f"https://{host}/{path}", ALLOWED) is None
