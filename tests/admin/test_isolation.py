"""Tenant isolation, checked on every registered route (new routes are covered automatically)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.admin import ENDPOINTS
from gateway.admin.endpoint import Endpoint
from gateway.services import Services
from tests.admin.client import AdminClient
from tests.admin.conftest import Ids, Tenant, populate, snapshot

VALID_GUID = "aaaaaaaa-0000-4000-8000-000000000001"


def sample_body(endpoint: Endpoint, ids: Ids) -> dict[str, Any] | None:
    """A valid body for each route that takes one; a new body route must be added here."""
    bodies: dict[str, dict[str, Any]] = {
        "create_tenant": {"name": "Initech"},
        "put_entra_integration": {
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": VALID_GUID,
            "client_secret": "another-secret",
            "cloud": "usgov",
        },
        "put_entra_preferences": {
            "sync_enabled": True,
            "groups": [VALID_GUID],
            "sites": [{"site_id": str(ids.site_id), "remote_access": True}],
            "sync_interval_minutes": 60,
        },
        "create_site": {"name": "Paris"},
        "create_team": {"name": "Support"},
        "create_token": {"kind": "scim"},
        "add_user_tag": {"name": "Contractors"},
    }
    if endpoint.body is None:
        return None
    assert endpoint.name in bodies, f"add a sample body for {endpoint.name}"
    return bodies[endpoint.name]


def call(client: AdminClient, endpoint: Endpoint, ids: Ids) -> Any:
    path = endpoint.path.format(**ids.path_values())
    body = sample_body(endpoint, ids)
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return client.request(endpoint.method, path, **kwargs)


ROUTES = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
SCOPED = [e for e in ENDPOINTS if e.tenant_scoped]
TENANT_ROUTES = pytest.mark.parametrize("endpoint", SCOPED, ids=[e.name for e in SCOPED])


@ROUTES
def test_a_tenant_token_cannot_reach_another_tenant(
    endpoint: Endpoint, services: Services, acme: Tenant, globex: Tenant
) -> None:
    populate(services, acme.id)
    theirs = populate(services, globex.id)
    before = snapshot(services.engine)

    response = call(acme.admin, endpoint, theirs)

    expected = 403 if endpoint.operator_only else 404
    assert response.status_code == expected, response.text
    assert response.json()["error"]["code"] in {"forbidden", "not_found"}
    assert "Globex" not in response.text
    assert snapshot(services.engine) == before


@ROUTES
def test_a_tenant_token_reaches_its_own_tenant(
    endpoint: Endpoint, services: Services, acme: Tenant
) -> None:
    mine = populate(services, acme.id)

    response = call(acme.admin, endpoint, mine)

    expected = 403 if endpoint.operator_only else endpoint.status
    assert response.status_code == expected, response.text


@ROUTES
def test_an_operator_token_reaches_every_tenant(
    endpoint: Endpoint, services: Services, operator: AdminClient, globex: Tenant
) -> None:
    theirs = populate(services, globex.id)

    response = call(operator, endpoint, theirs)

    assert response.status_code == endpoint.status, response.text


@TENANT_ROUTES
def test_an_unknown_tenant_is_not_found_even_for_operators(
    endpoint: Endpoint, services: Services, operator: AdminClient, globex: Tenant
) -> None:
    theirs = populate(services, globex.id)
    missing = Ids(
        "0" * 32,
        theirs.site_id,
        theirs.team_id,
        theirs.user_id,
        theirs.run_id,
        "1" * 32,
        theirs.tag_id,
    )
    before = snapshot(services.engine)

    response = call(operator, endpoint, missing)

    assert response.status_code == 404, response.text
    assert snapshot(services.engine) == before


@ROUTES
def test_every_route_needs_a_token(endpoint: Endpoint, services: Services, acme: Tenant) -> None:
    mine = populate(services, acme.id)
    before = snapshot(services.engine)

    response = call(acme.admin.as_token(None), endpoint, mine)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert snapshot(services.engine) == before
