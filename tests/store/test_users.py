from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gateway.store.engine import write_transaction
from gateway.store.integrations import set_enabled
from gateway.store.users import UserFilter, get_user, list_users
from tests import store_seed as seed


@pytest.fixture
def world(engine: Engine) -> seed.World:
    return seed.World(engine)


def test_user_listing_filters(world: seed.World) -> None:
    def ids(**kwargs: Any) -> list[int]:
        page = list_users(world.engine, world.tenant, filters=UserFilter(**kwargs))
        return [u.id for u in page.items]

    assert ids() == [world.ann, world.bob, world.cat, world.dan]
    assert ids(email=" ANN@example.COM ") == [world.ann]
    assert ids(email="nobody@example.com") == []
    assert ids(active=False) == [world.cat]
    assert ids(active=True) == [world.ann, world.bob, world.dan]
    assert ids(team="ops") == [world.cat]
    assert ids(team="microsoft entra id users") == [world.ann, world.bob]
    assert ids(team="nope") == []
    # The tag filter agrees with the derived tags: the inactive cat is left out.
    assert ids(tag="SALES") == [world.ann, world.dan]
    assert ids(tag="sales", team="Microsoft Entra ID Users") == [world.ann]
    assert ids(tag="nope") == []
    set_enabled(world.engine, world.tenant, False, actor="a")
    assert ids(tag="sales") == []


def test_user_listing_pages_by_id(world: seed.World) -> None:
    seen: list[int] = []
    after: int | None = None
    while True:
        page = list_users(world.engine, world.tenant, after_id=after, limit=3)
        seen.extend(u.id for u in page.items)
        if page.next_after is None:
            break
        after = page.next_after

    assert seen == [world.ann, world.bob, world.cat, world.dan]


def test_get_user_stays_in_its_tenant(world: seed.World) -> None:
    user = get_user(world.engine, world.tenant, world.ann)

    assert user is not None
    assert user.primary_email == "Ann@Example.com"
    assert user.display_name == "Ann"
    assert user.access.tags == ("Admins", "Sales")
    assert get_user(world.engine, world.tenant, world.stranger) is None


@contextmanager
def _count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def test_a_page_costs_the_same_queries_whatever_its_size(engine: Engine) -> None:
    world = seed.World(engine)
    with write_transaction(engine) as conn:
        more = [seed.user(conn, world.tenant, f"u{i}@example.com") for i in range(60)]
        seed.tagged_group(conn, world.tenant, "g9", "Many", more)

    with _count_queries(engine) as small:
        list_users(engine, world.tenant, limit=2)
    with _count_queries(engine) as large:
        list_users(engine, world.tenant, limit=60)

    assert len(large) == len(small)
    assert len(large) <= 10
