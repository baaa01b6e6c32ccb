from __future__ import annotations

from gateway.services import Services
from gateway.store.tokens import authenticate
from tests.admin.client import AdminClient
from tests.admin.conftest import Tenant


def test_token_value_is_shown_once(services: Services, acme: Tenant) -> None:
    created = acme.admin.post(f"/tenants/{acme.id}/tokens", json={"kind": "scim"})

    assert created.status_code == 201
    body = created.json()
    assert body["kind"] == "scim"
    assert body["tenant_id"] == acme.id
    assert body["token"].startswith("tgw_scim_")
    assert body["hint"] == body["token"][-4:]
    assert authenticate(services.engine, body["token"], "scim") is not None
    listed = acme.admin.get(f"/tenants/{acme.id}/tokens")
    assert body["token"] not in listed.text
    assert body["id"] in {item["id"] for item in listed.json()["items"]}


def test_operator_tokens_are_not_listed_under_a_tenant(operator: AdminClient, acme: Tenant) -> None:
    listed = operator.get(f"/tenants/{acme.id}/tokens").json()["items"]

    assert all(item["tenant_id"] == acme.id for item in listed)


def test_revoke_marks_the_token_and_unknown_ids_are_404(acme: Tenant) -> None:
    created = acme.admin.post(f"/tenants/{acme.id}/tokens", json={"kind": "scim"}).json()

    revoked = acme.admin.delete(f"/tenants/{acme.id}/tokens/{created['id']}")
    listed = acme.admin.get(f"/tenants/{acme.id}/tokens").json()["items"]
    unknown = acme.admin.delete(f"/tenants/{acme.id}/tokens/{'a' * 32}")

    assert revoked.status_code == 204
    [item] = [i for i in listed if i["id"] == created["id"]]
    assert item["revoked_at"] is not None
    assert unknown.status_code == 404
