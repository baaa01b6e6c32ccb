"""Tags given by hand next to tags from synced groups (rule 6, owners per tag)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway.errors import NotFoundError, ValidationFailedError
from gateway.store.access import UserAccess, effective_access
from gateway.store.engine import read_transaction
from gateway.store.integrations import set_enabled
from gateway.store.tags import list_tags, tag_user, untag_user
from gateway.store.users import UserFilter, list_users
from tests import store_seed as seed
from tests.store.apply_helpers import group, new_tenant, person, snapshot, users_by_email


def _access(engine: Engine, tenant: str, user_id: int) -> UserAccess:
    with read_transaction(engine) as conn:
        return effective_access(conn, tenant, [user_id])[user_id]


def _synced_user(engine: Engine, *groups: tuple[str, str]) -> tuple[str, int]:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group(g, name, [1]) for g, name in groups])
    return tenant, users_by_email(engine, tenant)["user1@contoso.com"].id


def test_a_tag_given_by_hand_survives_every_sync_state(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    seed.integration(engine, seed.secret_box(), tenant)
    tag_user(engine, tenant, user, "VIP", actor="admin")

    set_enabled(engine, tenant, False, actor="admin")
    while_disabled = _access(engine, tenant, user).tags
    set_enabled(engine, tenant, True, actor="admin")
    snapshot(engine, tenant, [person(1, enabled=False)], [group("g1", "Sales", [1])])
    while_deactivated = _access(engine, tenant, user).tags
    snapshot(engine, tenant, [], [])

    assert while_disabled == ("VIP",)
    assert while_deactivated == ("VIP",)
    assert _access(engine, tenant, user).tags == ("VIP",)


def test_giving_a_tag_twice_changes_nothing(engine: Engine) -> None:
    tenant, user = _synced_user(engine)

    first = tag_user(engine, tenant, user, " VIP ", actor="admin")
    second = tag_user(engine, tenant, user, "vip", actor="admin")

    assert first == second
    assert first.name == "VIP"
    assert [t.name for t in list_tags(engine, tenant)] == ["VIP"]


def test_a_tag_name_is_at_most_29_characters(engine: Engine) -> None:
    tenant, user = _synced_user(engine)

    tag_user(engine, tenant, user, "x" * 29, actor="admin")
    with pytest.raises(ValidationFailedError, match="1 to 29 characters"):
        tag_user(engine, tenant, user, "y" * 30, actor="admin")


def test_a_group_named_like_a_hand_given_tag_shares_it(engine: Engine) -> None:
    tenant, user = _synced_user(engine)
    given = tag_user(engine, tenant, user, "Sales", actor="admin")

    snapshot(engine, tenant, [person(1), person(2)], [group("g1", "sales", [2])])

    [tag] = list_tags(engine, tenant)
    assert tag.id == given.tag_id
    assert tag.from_groups


def test_removing_the_group_keeps_the_tag_an_admin_gave(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    given = tag_user(engine, tenant, user, "Sales", actor="admin")

    snapshot(engine, tenant, [person(1)], [])

    assert [(t.id, t.from_groups) for t in list_tags(engine, tenant)] == [(given.tag_id, False)]
    assert _access(engine, tenant, user).tags == ("Sales",)


def test_a_renamed_group_leaves_a_hand_given_tag_where_it_is(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    given = tag_user(engine, tenant, user, "Sales", actor="admin")

    snapshot(engine, tenant, [person(1)], [group("g1", "Sales EMEA", [1])])

    tags = {t.name: t for t in list_tags(engine, tenant)}
    assert tags["Sales"].id == given.tag_id
    assert not tags["Sales"].from_groups
    assert tags["Sales EMEA"].from_groups
    assert _access(engine, tenant, user).tags == ("Sales", "Sales EMEA")


def test_taking_back_a_hand_given_tag_removes_it_when_nothing_else_gives_it(
    engine: Engine,
) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    vip = tag_user(engine, tenant, user, "VIP", actor="admin")
    sales = tag_user(engine, tenant, user, "Sales", actor="admin")

    untag_user(engine, tenant, user, vip.tag_id, actor="admin")
    untag_user(engine, tenant, user, sales.tag_id, actor="admin")

    # VIP is gone; Sales stays, since the group still gives it.
    assert [t.name for t in list_tags(engine, tenant)] == ["Sales"]
    assert _access(engine, tenant, user).tags == ("Sales",)


def test_a_tag_from_a_group_cannot_be_taken_back_by_hand(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    [sales] = list_tags(engine, tenant)

    with pytest.raises(NotFoundError, match="change with the groups"):
        untag_user(engine, tenant, user, sales.id, actor="admin")


def test_listing_by_tag_finds_hand_given_tags(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    tag_user(engine, tenant, user, "VIP", actor="admin")

    page = list_users(engine, tenant, filters=UserFilter(tag="vip"))

    assert [u.id for u in page.items] == [user]


def test_tags_are_given_only_to_users_of_the_tenant(engine: Engine) -> None:
    tenant, _ = _synced_user(engine)
    _, stranger = _synced_user(engine)

    with pytest.raises(NotFoundError):
        tag_user(engine, tenant, stranger, "VIP", actor="admin")
    assert list_tags(engine, tenant) == []


def test_while_disabled_the_tag_filter_finds_only_hand_given_tags(engine: Engine) -> None:
    tenant, user = _synced_user(engine, ("g1", "Sales"))
    seed.integration(engine, seed.secret_box(), tenant)
    tag_user(engine, tenant, user, "VIP", actor="admin")

    set_enabled(engine, tenant, False, actor="admin")

    assert [u.id for u in list_users(engine, tenant, filters=UserFilter(tag="VIP")).items] == [user]
    assert list_users(engine, tenant, filters=UserFilter(tag="Sales")).items == ()
