from __future__ import annotations

from gateway.services import Services
from gateway.store.engine import write_transaction
from tests import store_seed as seed
from tests.admin.conftest import Tenant


def test_an_admin_gives_and_takes_back_a_tag(services: Services, acme: Tenant) -> None:
    with write_transaction(services.engine) as conn:
        user_id = seed.user(conn, acme.id, "ann@example.com")
        seed.tagged_group(conn, acme.id, "g1", "Sales", [user_id])
    tags = f"/tenants/{acme.id}/users/{user_id}/tags"

    given = acme.admin.post(tags, json={"name": "VIP"})
    listed = acme.admin.get(f"/tenants/{acme.id}/tags").json()
    user = acme.admin.get(f"/tenants/{acme.id}/users/{user_id}").json()
    removed = acme.admin.delete(f"{tags}/{given.json()['tag_id']}")
    again = acme.admin.delete(f"{tags}/{given.json()['tag_id']}")

    assert given.status_code == 200
    assert given.json()["name"] == "VIP"
    assert [(t["name"], t["from_groups"]) for t in listed["items"]] == [
        ("Sales", True),
        ("VIP", False),
    ]
    assert user["tags"] == ["Sales", "VIP"]
    assert removed.status_code == 204
    assert again.status_code == 404
    assert acme.admin.get(f"/tenants/{acme.id}/users/{user_id}").json()["tags"] == ["Sales"]


def test_a_tag_longer_than_29_characters_is_refused(services: Services, acme: Tenant) -> None:
    with write_transaction(services.engine) as conn:
        user_id = seed.user(conn, acme.id, "ann@example.com")

    response = acme.admin.post(f"/tenants/{acme.id}/users/{user_id}/tags", json={"name": "x" * 30})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "name"
