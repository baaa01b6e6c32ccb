from __future__ import annotations

import pytest

from gateway.services import Services
from gateway.store.tokens import create_token, revoke_token
from tests.admin.client import AdminClient
from tests.admin.conftest import Tenant


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "tgw_admin_x"],
)
def test_malformed_authorization_is_401_invalid_token(acme: Tenant, header: str) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["error"]["code"] == "unauthorized"


def test_unknown_token_is_401(acme: Tenant) -> None:
    response = acme.admin.as_token("tgw_admin_nope").get(f"/tenants/{acme.id}")

    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["error"]["message"]


def test_bearer_scheme_is_case_insensitive(acme: Tenant) -> None:
    token = acme.admin.token
    response = acme.admin.get(f"/tenants/{acme.id}", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200


def test_revoked_token_is_401(services: Services, acme: Tenant) -> None:
    record, token = create_token(services.engine, tenant_id=acme.id, kind="admin", actor="t")
    client = acme.admin.as_token(token)
    assert client.get(f"/tenants/{acme.id}").status_code == 200

    revoke_token(services.engine, acme.id, record.id, actor="t")

    assert client.get(f"/tenants/{acme.id}").status_code == 401


def test_a_token_revoked_over_the_api_stops_working(acme: Tenant) -> None:
    created = acme.admin.post(f"/tenants/{acme.id}/tokens", json={"kind": "admin"}).json()
    client = acme.admin.as_token(created["token"])
    assert client.get(f"/tenants/{acme.id}").status_code == 200

    assert acme.admin.delete(f"/tenants/{acme.id}/tokens/{created['id']}").status_code == 204

    assert client.get(f"/tenants/{acme.id}").status_code == 401


def test_scim_token_is_not_an_admin_token(services: Services, acme: Tenant) -> None:
    _, token = create_token(services.engine, tenant_id=acme.id, kind="scim", actor="t")

    response = acme.admin.as_token(token).get(f"/tenants/{acme.id}")

    assert response.status_code == 401


def test_only_operators_create_tenants(operator: AdminClient, acme: Tenant) -> None:
    refused = acme.admin.post("/tenants", json={"name": "Mine"})
    created = operator.post("/tenants", json={"name": "Mine"})

    assert refused.status_code == 403
    assert "operator token" in refused.json()["error"]["message"]
    assert created.status_code == 201


def test_openapi_document_needs_no_token(operator: AdminClient) -> None:
    response = operator.as_token(None).raw("GET", "/openapi.json")

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
