"""Tenant isolation on every SCIM route: the token selects the tenant (rule 1).

The route list is read from the app itself, so a new route without a case
here fails the test. For each one, the other tenant's token gets 404 for
tenant A's resources, finds none of them, and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route

from gateway.services import Services
from gateway.store.tokens import create_token, revoke_token
from tests.scim.client import PATCH_OP, ScimClient, entra_group, entra_user
from tests.scim.conftest import Tenant

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

# (method, route path) -> how tenant B's request looks and what it must get.
CASES: dict[tuple[str, str], Any] = {
    ("GET", "/Users"): "list",
    ("POST", "/Users"): "create",
    ("POST", "/Users/.search"): "search",
    ("GET", "/Users/{id}"): 404,
    ("PUT", "/Users/{id}"): 404,
    ("PATCH", "/Users/{id}"): 404,
    ("DELETE", "/Users/{id}"): 404,
    ("GET", "/Groups"): "list",
    ("POST", "/Groups"): "create",
    ("POST", "/Groups/.search"): "search",
    ("GET", "/Groups/{id}"): 404,
    ("PUT", "/Groups/{id}"): 404,
    ("PATCH", "/Groups/{id}"): 404,
    ("DELETE", "/Groups/{id}"): 404,
    ("POST", "/.search"): "search",
    ("POST", "/Bulk"): "bulk",
    ("GET", "/ServiceProviderConfig"): 200,
    ("GET", "/ResourceTypes"): 200,
    ("GET", "/ResourceTypes/{name}"): 200,
    ("GET", "/Schemas"): 200,
    ("GET", "/Schemas/{urn}"): 200,
}


def _routes(client: ScimClient) -> set[tuple[str, str]]:
    found = set()
    for route in client.scim_app.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_has_an_isolation_case(acme: Tenant) -> None:
    assert _routes(acme.scim) == set(CASES)


def _seed(acme: Tenant) -> dict[str, str]:
    user = acme.scim.post("/Users", entra_user("ann")).json()
    group = acme.scim.post("/Groups", entra_group("Sales", [user["id"]])).json()
    return {"Users": user["id"], "Groups": group["id"]}


def _body(method: str, collection: str) -> Any:
    if method == "PATCH":
        return {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Taken over"}],
        }
    return entra_user("mallory") if collection == "Users" else entra_group("Mallory")


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_other_tenant_sees_and_changes_nothing(
    acme: Tenant, globex: Tenant, method: str, path: str
) -> None:
    ids = _seed(acme)
    before = {
        kind: acme.scim.get(f"/{kind}/{resource_id}").json() for kind, resource_id in ids.items()
    }
    expected = CASES[(method, path)]
    collection = path.strip("/").split("/")[0]
    target = path.replace("{id}", ids.get(collection, "x")).replace("{name}", "User")
    target = target.replace("{urn}", "urn:ietf:params:scim:schemas:core:2.0:User")
    other = globex.scim
    if expected == 404:
        body = _body(method, collection) if method in ("PUT", "PATCH") else None
        answer = other.request(method, target, **({"json": body} if body else {}))
        assert answer.status_code == 404, answer.text
        assert answer.json()["status"] == "404"
    elif expected == "list":
        answer = other.get(target)
        assert answer.json()["totalResults"] == 0
        answer = other.get(target, params={"filter": f'id eq "{ids[collection]}"'})
        assert answer.json()["totalResults"] == 0
    elif expected == "search":
        answer = other.post(target, {"schemas": [SEARCH], "filter": f'id eq "{ids["Users"]}"'})
        assert answer.status_code == 200, answer.text
        assert answer.json()["totalResults"] == 0
    elif expected == "create":
        # The same userName / displayName is free in another tenant.
        body = entra_user("ann") if collection == "Users" else entra_group("Sales")
        answer = other.post(target, body)
        assert answer.status_code == 201
        assert answer.json()["id"] not in ids.values()
    elif expected == "bulk":
        operations = [
            {"method": "DELETE", "path": f"/Users/{ids['Users']}"},
            {"method": "PATCH", "path": f"/Groups/{ids['Groups']}", "data": _body("PATCH", "")},
        ]
        answer = other.post(target, {"schemas": [BULK], "Operations": operations})
        assert [op["status"] for op in answer.json()["Operations"]] == ["404", "404"]
    else:
        assert other.get(target).status_code == expected
    after = {
        kind: acme.scim.get(f"/{kind}/{resource_id}").json() for kind, resource_id in ids.items()
    }
    assert after == before


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_every_route_needs_a_scim_token(
    services: Services, acme: Tenant, method: str, path: str
) -> None:
    _, admin_token = create_token(services.engine, tenant_id=acme.id, kind="admin", actor="test")
    record, revoked = create_token(services.engine, tenant_id=acme.id, kind="scim", actor="test")
    revoke_token(services.engine, acme.id, record.id, actor="test")
    target = path.replace("{id}", "x").replace("{name}", "User").replace("{urn}", "x")
    for token in (None, "tgw_scim_not-a-token", admin_token, revoked):
        answer = acme.scim.as_token(token).request(method, target)
        assert answer.status_code == 401, (token, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert "tgw_" not in answer.text


def test_a_token_revoked_here_stops_working_at_once(services: Services, acme: Tenant) -> None:
    record, token = create_token(services.engine, tenant_id=acme.id, kind="scim", actor="test")
    client = acme.scim.as_token(token)
    assert client.get("/Users").status_code == 200  # now remembered for a second
    revoke_token(services.engine, acme.id, record.id, actor="test")
    assert client.get("/Users").status_code == 401
    assert client.post("/Users", entra_user("late")).status_code == 401
