from __future__ import annotations

from typing import Any

import pytest

from gateway.services import Services
from gateway.store.engine import write_transaction
from tests import store_seed as seed
from tests.admin.conftest import Tenant, snapshot


@pytest.fixture
def world(services: Services, acme: Tenant) -> seed.World:
    """Acme with users, groups, teams, a site grant and an integration (see ``seed.World``)."""
    return seed.World(services.engine, acme.id, services.secrets)


def emails(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["primary_email"] for item in response.json()["items"]]


def test_users_are_listed_with_derived_access(acme: Tenant, world: seed.World) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/users")

    items = {item["primary_email"]: item for item in response.json()["items"]}
    assert response.json()["next_cursor"] is None
    assert items["Ann@Example.com"] == {
        "id": str(world.ann),
        "primary_email": "Ann@Example.com",
        "user_name": "Ann@Example.com",
        "display_name": "Ann",
        "active": True,
        "entra_object_id": None,
        "teams": ["Microsoft Entra ID Users"],
        "tags": ["Admins", "Sales"],
        "sites": [{"site_id": str(world.site), "remote_access": True}],
        "warnings": [],
    }
    assert items["bob@example.com"]["warnings"] == ["sso_username_mismatch"]
    assert items["cat@example.com"]["active"] is False
    assert items["cat@example.com"]["tags"] == []
    assert items["cat@example.com"]["teams"] == ["Ops"]


def test_one_user_is_read_by_id(acme: Tenant, world: seed.World) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/users/{world.ann}")

    assert response.json()["tags"] == ["Admins", "Sales"]
    assert acme.admin.get(f"/tenants/{acme.id}/users/999999").status_code == 404


def test_a_user_of_another_tenant_is_not_found(
    services: Services, acme: Tenant, world: seed.World
) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/users/{world.stranger}")

    assert response.status_code == 404


def test_filters(acme: Tenant, world: seed.World) -> None:
    base = f"/tenants/{acme.id}/users"

    assert emails(acme.admin.get(base, params={"email": " ANN@example.com "})) == [
        "Ann@Example.com"
    ]
    assert emails(acme.admin.get(base, params={"active": "false"})) == ["cat@example.com"]
    assert emails(acme.admin.get(base, params={"team": "OPS"})) == ["cat@example.com"]
    assert emails(acme.admin.get(base, params={"tag": "sales"})) == [
        "Ann@Example.com",
        "dan@example.com",
    ]
    assert (
        emails(acme.admin.get(base, params={"tag": "sales", "active": "true", "team": "nope"}))
        == []
    )


def test_disabling_suspends_tags_and_sites_and_enabling_restores_them(
    acme: Tenant, world: seed.World
) -> None:
    user = f"/tenants/{acme.id}/users/{world.ann}"
    integration = f"/tenants/{acme.id}/integrations/entra"
    before = acme.admin.get(user).json()

    acme.admin.post(f"{integration}/disable")
    suspended = acme.admin.get(user).json()
    by_tag = acme.admin.get(f"/tenants/{acme.id}/users", params={"tag": "Sales"})
    acme.admin.post(f"{integration}/enable")

    assert suspended["tags"] == []
    assert suspended["sites"] == []
    assert suspended["teams"] == before["teams"]
    assert emails(by_tag) == []
    assert acme.admin.get(user).json() == before


def test_paging_with_cursor(services: Services, acme: Tenant, world: seed.World) -> None:
    with write_transaction(services.engine) as conn:
        for i in range(7):
            seed.user(conn, acme.id, f"user{i}@example.com")
    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    pages = 0
    while True:
        response = acme.admin.get(f"/tenants/{acme.id}/users", params=params)
        seen.extend(emails(response))
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        params = {"limit": "3", "cursor": cursor}

    assert pages == 4
    assert len(seen) == len(set(seen)) == 11


def test_a_limit_above_the_maximum_is_refused(
    services: Services, acme: Tenant, world: seed.World
) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/users", params={"limit": "51"})

    assert response.status_code == 422
    assert "at most 50" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"email": "not-an-email"},
        {"email": ""},
        {"active": "yes"},
        {"limit": "0"},
        {"limit": "many"},
        {"cursor": "garbage!"},
        {"cursor": "cnVuczo1"},  # a sync-runs cursor: "runs:5"
        {"unknown": "1"},
    ],
)
def test_invalid_query_is_422(
    services: Services, acme: Tenant, world: seed.World, params: dict[str, str]
) -> None:
    before = snapshot(services.engine)

    response = acme.admin.get(f"/tenants/{acme.id}/users", params=params)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]
    assert snapshot(services.engine) == before
