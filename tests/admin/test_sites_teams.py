from __future__ import annotations

from gateway.services import Services
from gateway.store import audit
from gateway.store.engine import write_transaction
from tests import store_seed as seed
from tests.admin.conftest import Tenant


def test_sites_are_created_and_listed(acme: Tenant) -> None:
    created = acme.admin.post(f"/tenants/{acme.id}/sites", json={"name": "Berlin"})
    duplicate = acme.admin.post(f"/tenants/{acme.id}/sites", json={"name": "BERLIN"})
    listed = acme.admin.get(f"/tenants/{acme.id}/sites")

    assert created.status_code == 201
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["error"]["message"]
    assert listed.json() == {"items": [created.json()]}


def test_teams_are_created_and_listed(acme: Tenant) -> None:
    created = acme.admin.post(f"/tenants/{acme.id}/teams", json={"name": "Ops"})
    duplicate = acme.admin.post(f"/tenants/{acme.id}/teams", json={"name": " ops "})
    reserved = acme.admin.post(
        f"/tenants/{acme.id}/teams", json={"name": "Microsoft Entra ID Users"}
    )

    assert created.status_code == 201
    assert created.json()["system_key"] is None
    assert duplicate.status_code == 409
    assert reserved.status_code == 409
    assert acme.admin.get(f"/tenants/{acme.id}/teams").json() == {"items": [created.json()]}


def test_manual_membership_put_is_idempotent_and_delete_removes_it(
    services: Services, acme: Tenant
) -> None:
    team = acme.admin.post(f"/tenants/{acme.id}/teams", json={"name": "Ops"}).json()
    with write_transaction(services.engine) as conn:
        user_id = seed.user(conn, acme.id, "ann@example.com")
    member = f"/tenants/{acme.id}/teams/{team['id']}/members/{user_id}"

    first = acme.admin.put(member)
    second = acme.admin.put(member)
    user = acme.admin.get(f"/tenants/{acme.id}/users/{user_id}").json()
    removed = acme.admin.delete(member)
    again = acme.admin.delete(member)

    assert (
        first.json()
        == second.json()
        == {
            "team_id": team["id"],
            "user_id": str(user_id),
            "owners": ["manual"],
        }
    )
    assert user["teams"] == ["Ops"]
    assert removed.json() == {
        "team_id": team["id"],
        "user_id": str(user_id),
        "removed_owners": ["manual"],
        "restored_by_sync": False,
    }
    assert again.status_code == 404
    actions = [e.action for e in audit.list_entries(services.engine, acme.id)]
    assert actions.count("team.member_added") == 1
    assert actions.count("team.member_removed") == 1


def test_removing_a_sync_membership_is_reported_as_restored_by_sync(
    services: Services, acme: Tenant
) -> None:
    with write_transaction(services.engine) as conn:
        team_id = seed.entra_team(conn, acme.id)
        user_id = seed.user(conn, acme.id, "ann@example.com")
        seed.team_member(conn, acme.id, team_id, user_id, "graph")

    removed = acme.admin.delete(f"/tenants/{acme.id}/teams/{team_id}/members/{user_id}")

    assert removed.status_code == 200
    assert removed.json()["removed_owners"] == ["graph"]
    assert removed.json()["restored_by_sync"] is True


def test_membership_of_unknown_team_or_user_is_404(services: Services, acme: Tenant) -> None:
    team = acme.admin.post(f"/tenants/{acme.id}/teams", json={"name": "Ops"}).json()
    with write_transaction(services.engine) as conn:
        user_id = seed.user(conn, acme.id, "ann@example.com")

    no_team = acme.admin.put(f"/tenants/{acme.id}/teams/424242/members/{user_id}")
    no_user = acme.admin.put(f"/tenants/{acme.id}/teams/{team['id']}/members/424242")

    assert no_team.status_code == 404
    assert "Team 424242" in no_team.json()["error"]["message"]
    assert no_user.status_code == 404
    assert "User 424242" in no_user.json()["error"]["message"]
