from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.services import Services
from gateway.store import audit
from gateway.store.sites import create_site
from tests.admin.conftest import Tenant, snapshot

GUID = "11111111-2222-4333-8444-555555555555"
GROUP = "AAAAAAAA-0000-4000-8000-000000000001"


def integration_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": "8F0E1C2A-1111-4A2B-9C3D-0123456789AB",
        "client_id": GUID,
        "client_secret": "the-client-secret",
        "cloud": "global",
    }
    body.update(changes)
    return body


def test_put_then_get_integration(services: Services, acme: Tenant) -> None:
    expires = datetime.now(UTC) + timedelta(days=365)
    put = acme.admin.put(
        f"/tenants/{acme.id}/integrations/entra",
        json=integration_body(secret_expires_at=expires.isoformat()),
    )

    assert put.status_code == 200, put.text
    body = put.json()
    assert body["tenant_id"] == "8f0e1c2a-1111-4a2b-9c3d-0123456789ab"
    assert body["client_id"] == GUID
    assert body["cloud"] == "global"
    assert body["status"] == "validated"
    assert body["enabled"] is True
    assert datetime.fromisoformat(body["secret_expires_at"]) == expires
    assert "client_secret" not in body
    assert acme.admin.get(f"/tenants/{acme.id}/integrations/entra").json() == body
    [entry] = [
        e for e in audit.list_entries(services.engine, acme.id) if e.subject_type == "integration"
    ]
    assert entry.action == "integration.saved"


def test_custom_cloud_endpoints_are_kept_without_trailing_slash(acme: Tenant) -> None:
    cloud = {"login_url": "https://login.fake.test/", "graph_url": "https://graph.fake.test:8443"}

    put = acme.admin.put(
        f"/tenants/{acme.id}/integrations/entra", json=integration_body(cloud=cloud)
    )

    assert put.status_code == 200, put.text
    assert put.json()["cloud"] == {
        "login_url": "https://login.fake.test",
        "graph_url": "https://graph.fake.test:8443",
    }


def test_a_verified_domain_is_a_valid_entra_tenant(acme: Tenant) -> None:
    put = acme.admin.put(
        f"/tenants/{acme.id}/integrations/entra",
        json=integration_body(tenant_id="Contoso.onmicrosoft.com"),
    )

    assert put.json()["tenant_id"] == "contoso.onmicrosoft.com"


def test_get_before_put_explains_what_to_do(acme: Tenant) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/integrations/entra")

    assert response.status_code == 404
    assert "PUT" in response.json()["error"]["message"]


def _in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tenant_id": "not a tenant"}, "tenant_id"),
        ({"tenant_id": 42}, "tenant_id"),
        ({"client_id": "1234"}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_secret": None}, "client_secret"),
        ({"cloud": "mars"}, "cloud"),
        ({"cloud": 5}, "cloud"),
        ({"cloud": {"login_url": "http://login.test", "graph_url": "https://g.test"}}, "cloud"),
        ({"cloud": {"login_url": "https://l.test", "graph_url": "https://g.test/v1.0"}}, "cloud"),
        ({"cloud": {"login_url": "https://l.test"}}, "cloud"),
        ({"cloud": {"login_url": "https://l.test", "graph_url": "https://\u0084"}}, "cloud"),
        ({"cloud": {"login_url": "https://l .test", "graph_url": "https://g.test"}}, "cloud"),
        ({"cloud": {"login_url": "https://l.test:99999", "graph_url": "https://g.test"}}, "cloud"),
        ({"cloud": {"login_url": "https://_bad_.test", "graph_url": "https://g.test"}}, "cloud"),
        (
            {"cloud": {"login_url": "https://l.test", "graph_url": "https://g.test", "x": 1}},
            "cloud",
        ),
        ({"secret_expires_at": _in_days(-1)}, "secret_expires_at"),
        ({"secret_expires_at": _in_days(731)}, "secret_expires_at"),
        ({"secret_expires_at": "2030-01-01T00:00:00"}, "secret_expires_at"),
        ({"secret_expires_at": "tomorrow"}, "secret_expires_at"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_invalid_integration_is_422_naming_the_field_and_changes_nothing(
    services: Services, acme: Tenant, changes: dict[str, Any], field: str
) -> None:
    before = snapshot(services.engine)

    response = acme.admin.put(
        f"/tenants/{acme.id}/integrations/entra", json=integration_body(**changes)
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(d["field"].startswith(field) for d in error["details"]), error
    assert "the-client-secret" not in response.text
    assert snapshot(services.engine) == before


def test_missing_client_secret_is_refused(acme: Tenant) -> None:
    body = integration_body()
    del body["client_secret"]

    response = acme.admin.put(f"/tenants/{acme.id}/integrations/entra", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "client_secret"


def test_disable_and_enable(services: Services, acme: Tenant) -> None:
    base = f"/tenants/{acme.id}/integrations/entra"
    assert acme.admin.post(f"{base}/disable").status_code == 404
    acme.admin.put(base, json=integration_body())

    disabled = acme.admin.post(f"{base}/disable")
    enabled = acme.admin.post(f"{base}/enable")

    assert disabled.json()["enabled"] is False
    assert enabled.json()["enabled"] is True
    actions = [e.action for e in audit.list_entries(services.engine, acme.id)]
    assert "integration.disabled" in actions
    assert "integration.enabled" in actions


def test_preferences_round_trip(services: Services, acme: Tenant) -> None:
    base = f"/tenants/{acme.id}/integrations/entra"
    acme.admin.put(base, json=integration_body())
    site = create_site(services.engine, acme.id, "Berlin", actor="t")

    assert acme.admin.get(f"{base}/preferences").json() == {
        "sync_enabled": False,
        "groups": [],
        "sites": [],
        "sync_interval_minutes": 40,
    }
    put = acme.admin.put(
        f"{base}/preferences",
        json={
            "sync_enabled": True,
            "groups": [GROUP, GROUP.lower()],
            "sites": [{"site_id": str(site.id), "remote_access": True}],
        },
    )

    expected = {
        "sync_enabled": True,
        "groups": [GROUP.lower()],
        "sites": [{"site_id": str(site.id), "remote_access": True}],
        "sync_interval_minutes": 40,
    }
    assert put.status_code == 200, put.text
    assert put.json() == expected
    assert acme.admin.get(f"{base}/preferences").json() == expected


def test_preferences_need_an_integration(acme: Tenant) -> None:
    response = acme.admin.put(
        f"/tenants/{acme.id}/integrations/entra/preferences",
        json={"sync_enabled": True, "groups": [], "sites": []},
    )

    assert response.status_code == 404
    assert "PUT /tenants/{tenant_id}/integrations/entra" in response.json()["error"]["message"]


def test_unknown_and_foreign_sites_are_named(
    services: Services, acme: Tenant, globex: Tenant
) -> None:
    base = f"/tenants/{acme.id}/integrations/entra"
    acme.admin.put(base, json=integration_body())
    foreign = create_site(services.engine, globex.id, "Theirs", actor="t")
    before = snapshot(services.engine)

    response = acme.admin.put(
        f"{base}/preferences",
        json={
            "sync_enabled": True,
            "groups": [],
            "sites": [
                {"site_id": str(foreign.id), "remote_access": False},
                {"site_id": "987654", "remote_access": False},
            ],
        },
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["unknown_site_ids"] == sorted([str(foreign.id), "987654"])
    assert "987654" in error["message"]
    assert snapshot(services.engine) == before


@pytest.mark.parametrize(
    "body",
    [
        {"sync_enabled": True, "groups": [], "sites": [], "sync_interval_minutes": 4},
        {"sync_enabled": True, "groups": [], "sites": [], "sync_interval_minutes": 1441},
        {"sync_enabled": True, "groups": [], "sites": [], "sync_interval_minutes": "40"},
        {"sync_enabled": "yes", "groups": [], "sites": []},
        {"sync_enabled": True, "groups": ["not-a-guid"], "sites": []},
        {"sync_enabled": True, "groups": [], "sites": [{"site_id": 1, "remote_access": True}]},
        {"sync_enabled": True, "groups": [], "sites": [{"site_id": "1"}]},
        {"sync_enabled": True, "groups": [], "sites": [{"site_id": "abc", "remote_access": True}]},
        {"sync_enabled": True, "groups": []},
        {"sync_enabled": True, "groups": {}, "sites": []},
    ],
)
def test_invalid_preferences_are_422_and_change_nothing(
    services: Services, acme: Tenant, body: dict[str, Any]
) -> None:
    base = f"/tenants/{acme.id}/integrations/entra"
    acme.admin.put(base, json=integration_body())
    before = snapshot(services.engine)

    response = acme.admin.put(f"{base}/preferences", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]
    assert snapshot(services.engine) == before


def test_a_site_listed_twice_is_refused(services: Services, acme: Tenant) -> None:
    base = f"/tenants/{acme.id}/integrations/entra"
    acme.admin.put(base, json=integration_body())
    site = create_site(services.engine, acme.id, "Berlin", actor="t")
    grant = {"site_id": str(site.id), "remote_access": True}

    response = acme.admin.put(
        f"{base}/preferences", json={"sync_enabled": True, "groups": [], "sites": [grant, grant]}
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["repeated_site_ids"] == [str(site.id)]
