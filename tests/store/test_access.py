from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway.store.access import SiteAccess, UserAccess, effective_access
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.integrations import set_enabled
from gateway.store.tenants import create_tenant
from tests import store_seed as seed


@pytest.fixture
def world(engine: Engine) -> seed.World:
    return seed.World(engine)


def test_derived_access_follows_the_rules(world: seed.World) -> None:
    access = world.access()
    grant = (SiteAccess(world.site, True),)

    assert world.stranger not in access
    assert access[world.ann] == UserAccess(
        teams=("Microsoft Entra ID Users",), tags=("Admins", "Sales"), sites=grant, warnings=()
    )
    assert access[world.bob] == UserAccess(
        teams=("Microsoft Entra ID Users",),
        tags=(),
        sites=grant,
        warnings=("sso_username_mismatch",),
    )
    # Deactivated: manual membership stays, no tags or sites (rule 8).
    assert access[world.cat] == UserAccess(teams=("Ops",), tags=(), sites=(), warnings=())
    # Not synced by any source: tags from groups, but no sync-granted sites.
    assert access[world.dan] == UserAccess(teams=(), tags=("Sales",), sites=(), warnings=())


def test_disabling_the_integration_suspends_tags_and_sites_until_enabled(world: seed.World) -> None:
    before = world.access()

    set_enabled(world.engine, world.tenant, False, actor="a")
    suspended = world.access()
    set_enabled(world.engine, world.tenant, True, actor="a")

    assert suspended[world.ann] == UserAccess(
        teams=("Microsoft Entra ID Users",), tags=(), sites=(), warnings=()
    )
    assert world.access() == before


def test_a_scim_only_tenant_without_an_integration_still_gets_group_tags(
    engine: Engine,
) -> None:
    tenant = create_tenant(engine, "Bare", actor="cli").id
    with write_transaction(engine) as conn:
        ann = seed.user(conn, tenant, "ann@example.com", sources=("scim",))
        seed.tagged_group(conn, tenant, "g1", "Sales", [ann])
    with read_transaction(engine) as conn:
        access = effective_access(conn, tenant, [ann])[ann]
    assert access.tags == ("Sales",)
    # Sites come only from an integration's preferences.
    assert access.sites == ()
