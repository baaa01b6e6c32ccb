"""Bad and heavy input gets a clear, protocol-correct error and loses nothing
(RFC 7644 §3.12 error bodies, §3.4.2.4 limits, §3.7.4 payload size)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace as dc_replace

import httpx
import pytest
from sqlalchemy import Engine

import scim.routes.resources as resource_routes
from gateway.crypto import generate_key
from gateway.services import Services
from gateway.settings import Settings
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from scim.app import build_scim_app
from tests.scim.client import ERROR_SCHEMA, ScimClient, entra_group, entra_user
from tests.scim.conftest import MAX_BODY_BYTES, Tenant
from tests.scim.live import Live, serving


def _error(answer: httpx.Response, status: int, scim_type: str | None) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body: dict[str, object] = answer.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert "Traceback" not in answer.text
    return body


def test_body_over_the_limit_is_413_and_stores_nothing(acme: Tenant) -> None:
    big = entra_user("ann", title="x" * MAX_BODY_BYTES)
    _error(acme.scim.post("/Users", big), 413, None)
    assert acme.scim.get("/Users").json()["totalResults"] == 0


def test_malformed_json_is_invalid_syntax(acme: Tenant) -> None:
    answer = acme.scim.request(
        "POST",
        "/Users",
        content=b'{"userName": ',
        headers={"Content-Type": "application/scim+json"},
    )
    _error(answer, 400, "invalidSyntax")
    _error(acme.scim.post("/Users", ["not", "an", "object"]), 400, "invalidSyntax")


def test_filter_length_and_depth_limits(acme: Tenant) -> None:
    long_filter = 'userName eq "' + "a" * 600 + '"'
    _error(acme.scim.get("/Users", params={"filter": long_filter}), 400, "invalidFilter")
    deep = "(" * 9 + 'userName eq "a"' + ")" * 9
    _error(acme.scim.get("/Users", params={"filter": deep}), 400, "invalidFilter")
    _error(acme.scim.get("/Users", params={"filter": "userName eq"}), 400, "invalidFilter")
    _error(acme.scim.get("/Users", params={"filter": 'nope eq "x"'}), 400, "invalidFilter")


def test_count_is_capped_at_the_advertised_maximum(acme: Tenant) -> None:
    spc = acme.scim.get("/ServiceProviderConfig").json()
    assert spc["filter"] == {"supported": True, "maxResults": 50}
    for i in range(55):
        assert acme.scim.post("/Users", entra_user(f"user{i:02d}")).status_code == 201
    page = acme.scim.get("/Users", params={"count": 1000}).json()
    assert page["totalResults"] == 55
    assert page["itemsPerPage"] == 50
    assert len(page["Resources"]) == 50
    rest = acme.scim.get("/Users", params={"startIndex": 51, "count": 1000}).json()
    assert (rest["itemsPerPage"], rest["startIndex"]) == (5, 51)
    assert acme.scim.get("/Users", params={"count": 0}).json()["Resources"] == []
    _error(acme.scim.get("/Users", params={"count": "many"}), 400, "invalidValue")


def test_rate_limit_answers_429_with_retry_after(services: Services) -> None:
    settings = services.settings.model_copy(
        update={"scim_rate_limit_per_second": 1.0, "scim_rate_limit_burst": 3}
    )
    app = build_scim_app(dc_replace(services, settings=settings))
    tenant = create_tenant(services.engine, "Busy", actor="test")
    _, token = create_token(services.engine, tenant_id=tenant.id, kind="scim", actor="test")
    _, other_token = create_token(
        services.engine,
        tenant_id=create_tenant(services.engine, "Calm", actor="test").id,
        kind="scim",
        actor="test",
    )
    client = ScimClient(app, token, app.state.scim.applier)
    statuses = [client.get("/Users").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    limited = client.get("/Users")
    body = _error(limited, 429, None)
    assert int(limited.headers["Retry-After"]) >= 1
    assert "retry" in str(body["detail"]).lower()
    # Another tenant has a bucket of its own.
    assert client.as_token(other_token).get("/Users").status_code == 200


def test_unknown_routes_and_methods_are_scim_errors(acme: Tenant) -> None:
    _error(acme.scim.get("/Nope"), 404, None)
    _error(acme.scim.request("DELETE", "/Users"), 405, None)
    _error(acme.scim.get(f"/Users/{uuid.uuid4()}"), 404, None)


def test_an_internal_error_leaks_nothing(acme: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals: SELECT * FROM scim_users")

    monkeypatch.setattr(resource_routes, "create_resource", broken)
    answer = acme.scim.post("/Users", entra_user("ann"))
    body = _error(answer, 500, None)
    assert "secret" not in answer.text
    assert "SELECT" not in answer.text
    assert body["detail"] == "Internal error; the operator can find it in the log."


def test_uniqueness_is_per_tenant_and_case_insensitive(acme: Tenant, globex: Tenant) -> None:
    assert acme.scim.post("/Users", entra_user("ann")).status_code == 201
    clash = entra_user("ann", userName="ANN@Contoso.com")
    _error(acme.scim.post("/Users", clash), 409, "uniqueness")
    assert globex.scim.post("/Users", clash).status_code == 201
    assert acme.scim.post("/Groups", entra_group("Sales")).status_code == 201
    _error(acme.scim.post("/Groups", entra_group("SALES")), 409, "uniqueness")
    # A conflicting POST never adopts the existing record.
    assert acme.scim.get("/Users").json()["totalResults"] == 1


def test_unknown_members_are_refused_whole(acme: Tenant) -> None:
    ann = acme.scim.post("/Users", entra_user("ann")).json()
    group = entra_group("Sales", [ann["id"], str(uuid.uuid4())])
    _error(acme.scim.post("/Groups", group), 400, "invalidValue")
    assert acme.scim.get("/Groups").json()["totalResults"] == 0


# -- concurrency, over real HTTP ------------------------------------------------


@pytest.fixture
def live(engine: Engine) -> Iterator[Live]:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_keys=generate_key(),
    )
    with serving(settings) as served:
        yield served


def test_concurrent_member_patches_lose_no_member(engine: Engine, live: Live) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="test")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=60) as client:
        users = [
            client.post("/Users", content=json.dumps(entra_user(f"u{i:03d}"))).json()["id"]
            for i in range(48)
        ]
        group = client.post("/Groups", content=json.dumps(entra_group("Team"))).json()["id"]
    failures: list[str] = []
    start = threading.Barrier(8)

    def add(batch: list[str]) -> None:
        with httpx.Client(base_url=live.base_url, headers=headers, timeout=60) as client:
            start.wait()
            for user in batch:
                body = {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": user}]}],
                }
                answer = client.patch(f"/Groups/{group}", content=json.dumps(body))
                if answer.status_code not in (200, 204):
                    failures.append(answer.text)

    threads = [threading.Thread(target=add, args=(users[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=60) as client:
        answer = client.get(f"/Groups/{group}").json()
    assert sorted(m["value"] for m in answer["members"]) == sorted(users)
    assert answer["meta"]["version"] == f'W/"{1 + len(users)}"'
