from __future__ import annotations

from gateway.services import Services
from gateway.store import audit
from tests.admin.client import AdminClient
from tests.admin.conftest import Tenant


def test_operator_creates_a_tenant_and_its_admin_reads_it(
    services: Services, operator: AdminClient
) -> None:
    created = operator.post("/tenants", json={"name": "  Initech "})

    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Initech"
    assert operator.get(f"/tenants/{body['id']}").json() == body
    [entry] = audit.list_entries(services.engine, body["id"])
    assert entry.action == "tenant.created"
    assert entry.actor.startswith("token:")


def test_tenant_admin_reads_own_tenant(acme: Tenant) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}")

    assert response.status_code == 200
    assert response.json()["name"] == "Acme"
