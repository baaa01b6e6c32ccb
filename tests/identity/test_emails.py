"""Rule 2: the Primary Email and how it is compared."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.identity.emails import clean_email, email_key, primary_email_from_scim

addresses = st.emails()
padding = st.text(alphabet=" \t\n", max_size=3)


@given(address=addresses, left=padding, right=padding)
def test_key_ignores_surrounding_space_and_letter_case(address: str, left: str, right: str) -> None:
    assert email_key(left + address.upper() + right) == email_key(address)


@given(address=addresses)
def test_key_is_idempotent(address: str) -> None:
    assert email_key(email_key(address)) == email_key(address)


@given(address=addresses, left=padding, right=padding)
def test_clean_email_keeps_the_address_as_received_but_trimmed(
    address: str, left: str, right: str
) -> None:
    assert clean_email(left + address + right) == address


@given(value=st.text(max_size=40))
def test_clean_email_never_returns_blank_or_spaced_values(value: str) -> None:
    cleaned = clean_email(value)
    if cleaned is not None:
        assert cleaned == cleaned.strip()
        assert cleaned.count("@") == 1
        assert not any(ch.isspace() for ch in cleaned)


def test_clean_email_refuses_what_cannot_be_an_address() -> None:
    assert clean_email(None) is None
    assert clean_email("   ") is None
    assert clean_email("bob") is None
    assert clean_email("bob@localhost") is None
    assert clean_email("bob smith@contoso.com") is None


def test_scim_primary_value_wins_even_sent_as_the_string_true() -> None:
    emails = [
        {"value": "work@contoso.com", "type": "work"},
        {"value": "home@contoso.com", "type": "home", "primary": "True"},
    ]
    assert primary_email_from_scim(emails) == "home@contoso.com"


def test_scim_work_address_is_next_then_the_first() -> None:
    assert (
        primary_email_from_scim(
            [
                {"value": "home@contoso.com", "type": "home"},
                {"value": "w@contoso.com", "type": "Work"},
            ]
        )
        == "w@contoso.com"
    )
    assert primary_email_from_scim([{"value": "a@contoso.com"}, {"value": "b@contoso.com"}]) == (
        "a@contoso.com"
    )


def test_scim_without_usable_values_has_no_primary_email() -> None:
    assert primary_email_from_scim(None) is None
    assert primary_email_from_scim([]) is None
    assert primary_email_from_scim([{"value": "  ", "primary": True}, {"type": "work"}]) is None


scim_entries = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "value": st.one_of(st.none(), st.text(max_size=10), addresses),
            "type": st.sampled_from(["work", "home", "other", "WORK", 3]),
            "primary": st.sampled_from([True, False, "True", "False", "true", None, 1]),
        },
    ),
    max_size=5,
)


@given(entries=scim_entries)
def test_scim_choice_is_always_one_of_the_given_values(entries: list[dict[str, object]]) -> None:
    chosen = primary_email_from_scim(entries)
    if chosen is None:
        assert not any(isinstance(e.get("value"), str) and str(e["value"]).strip() for e in entries)
    else:
        assert chosen in [e.get("value") for e in entries]
