"""Rules 3, 6 and 10 as pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.identity.model import WarningCode
from gateway.identity.rules import (
    TAG_NAME_MAX_LENGTH,
    deactivation_needs_confirmation,
    group_name_warning,
    sso_will_fail,
    tag_name_for_group,
    user_warnings,
)


@given(name=st.text(max_size=60))
def test_no_tag_is_ever_longer_than_29_characters(name: str) -> None:
    tag = tag_name_for_group(name)
    assert tag is None or 1 <= len(tag) <= TAG_NAME_MAX_LENGTH


@given(name=st.text(min_size=1, max_size=60))
def test_a_group_either_gives_a_tag_or_is_reported(name: str) -> None:
    assert (tag_name_for_group(name) is None) == (group_name_warning("g", name) is not None)


def test_the_limit_is_29_characters_exactly() -> None:
    assert tag_name_for_group("a" * 29) == "a" * 29
    assert tag_name_for_group("a" * 30) is None
    assert tag_name_for_group("  Sales  ") == "Sales"


def test_username_must_equal_primary_email_for_sso() -> None:
    assert not sso_will_fail("Bob@Contoso.com", " bob@contoso.com")
    assert sso_will_fail("bob.smith@contoso.com", "bob@contoso.com")


def test_user_warnings_name_both_values_when_sso_will_fail() -> None:
    [warning] = user_warnings("oid", "bob.smith@contoso.com", "bob@contoso.com")
    assert warning.code is WarningCode.SSO_USERNAME_MISMATCH
    assert "bob.smith@contoso.com" in warning.message
    assert "bob@contoso.com" in warning.message


def test_user_without_primary_email_is_reported() -> None:
    [warning] = user_warnings("oid", None, "bob@contoso.com")
    assert warning.code is WarningCode.NO_PRIMARY_EMAIL


@given(
    synced=st.integers(min_value=0, max_value=10_000),
    deactivating=st.integers(min_value=0, max_value=10_000),
    share=st.floats(min_value=0, max_value=1),
    minimum=st.integers(min_value=0, max_value=100),
)
def test_confirmation_is_needed_only_above_both_thresholds(
    synced: int, deactivating: int, share: float, minimum: int
) -> None:
    needed = deactivation_needs_confirmation(synced, deactivating, share, minimum)
    assert needed == (deactivating >= max(minimum, 1) and deactivating > synced * share)


def test_default_threshold_examples() -> None:
    assert not deactivation_needs_confirmation(100, 10, 0.10, 10)
    assert deactivation_needs_confirmation(100, 11, 0.10, 10)
    assert not deactivation_needs_confirmation(20, 9, 0.10, 10)
