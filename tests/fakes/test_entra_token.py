"""The token endpoint: client credentials, tokens carrying the roles granted at issue time,
and Entra's AADSTS error bodies with the statuses Entra uses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from joserfc import jwt

from tests.fakes.entra import EntraState, create_app
from tests.fakes.entra.client import FakeClient
from tests.fakes.entra.tokens import signing_key

AADSTS_FIELDS = {
    "error",
    "error_description",
    "error_codes",
    "timestamp",
    "trace_id",
    "correlation_id",
    "error_uri",
}


@pytest.fixture
def setup() -> tuple[EntraState, FakeClient]:
    state = EntraState(seed=3)
    return state, FakeClient(create_app(state))


def test_token_carries_roles_tenant_audience_and_expiry(
    setup: tuple[EntraState, FakeClient],
) -> None:
    state, client = setup
    tenant = state.add_tenant("Fabrikam")
    app = tenant.add_app(roles=("User.Read.All", "Group.Read.All"))
    response = client.token_response(tenant.id, app.client_id, app.secrets[0].value)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], signing_key()).claims
    assert claims["roles"] == ["Group.Read.All", "User.Read.All"]
    assert claims["tid"] == tenant.id
    assert claims["aud"] == client.base_url
    assert claims["appid"] == app.client_id
    assert claims["exp"] - claims["iat"] == 3600


def test_roles_are_those_granted_when_the_token_was_issued(
    setup: tuple[EntraState, FakeClient],
) -> None:
    state, client = setup
    tenant = state.add_tenant()
    app = tenant.add_app(roles=())
    before = client.token_response(tenant.id, app.client_id, app.secrets[0].value).json()
    tenant.grant(app.client_id, "User.Read.All")
    after = client.token_response(tenant.id, app.client_id, app.secrets[0].value).json()
    # Entra leaves the roles claim out when nothing is granted.
    assert "roles" not in jwt.decode(before["access_token"], signing_key()).claims
    assert jwt.decode(after["access_token"], signing_key()).claims["roles"] == ["User.Read.All"]
    # A token already issued keeps what it had: Graph still refuses it.
    client.headers["Authorization"] = f"Bearer {before['access_token']}"
    assert client.get("/v1.0/users").status_code == 403
    client.headers["Authorization"] = f"Bearer {after['access_token']}"
    assert client.get("/v1.0/users").status_code == 200
    tenant.revoke(app.client_id, "User.Read.All")
    assert client.get("/v1.0/users").status_code == 200


def test_tenant_may_be_named_by_domain(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant("Fabrikam", domain="fabrikam.onmicrosoft.com")
    app = tenant.add_app()
    response = client.token_response(
        "fabrikam.onmicrosoft.com", app.client_id, app.secrets[0].value
    )
    assert response.status_code == 200


def _aadsts(response_json: dict[str, object], code: int) -> None:
    assert set(response_json) == AADSTS_FIELDS
    assert response_json["error_codes"] == [code]
    description = str(response_json["error_description"])
    assert description.startswith(f"AADSTS{code}: ")
    assert f"Trace ID: {response_json['trace_id']}" in description
    assert f"Correlation ID: {response_json['correlation_id']}" in description
    assert f"Timestamp: {response_json['timestamp']}" in description
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", str(response_json["timestamp"]))


def test_unknown_tenant_is_aadsts90002(setup: tuple[EntraState, FakeClient]) -> None:
    _, client = setup
    response = client.token_response("00000000-0000-0000-0000-000000000001", "x", "y")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    _aadsts(body, 90002)


def test_client_not_in_tenant_is_aadsts700016(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant()
    other = state.add_tenant("Other").add_app()
    response = client.token_response(tenant.id, other.client_id, other.secrets[0].value)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unauthorized_client"
    _aadsts(body, 700016)
    assert other.client_id in body["error_description"]


def test_secret_id_instead_of_value_is_aadsts7000215(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant()
    app = tenant.add_app()
    response = client.token_response(tenant.id, app.client_id, app.secrets[0].id)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    _aadsts(body, 7000215)
    assert "not the client secret ID" in body["error_description"]
    assert app.secrets[0].value not in response.text


def test_expired_secret_is_aadsts7000222(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant()
    app = tenant.add_app(secret_days=1)
    value = app.secrets[0].value
    state.clock.advance(timedelta(days=2))
    response = client.token_response(tenant.id, app.client_id, value)
    assert response.status_code == 401
    _aadsts(response.json(), 7000222)


def test_rotated_secret_replaces_the_old_one(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant()
    app = tenant.add_app()
    old = app.secrets[0].value
    new = tenant.rotate_secret(app.client_id).value
    assert client.token_response(tenant.id, app.client_id, old).status_code == 401
    assert client.token_response(tenant.id, app.client_id, new).status_code == 200
    tenant.expire_secret(app.client_id)
    assert client.token_response(tenant.id, app.client_id, new).json()["error_codes"] == [7000222]


def test_scope_must_be_a_resource_with_default(setup: tuple[EntraState, FakeClient]) -> None:
    state, client = setup
    tenant = state.add_tenant()
    app = tenant.add_app()
    response = client.token_response(
        tenant.id, app.client_id, app.secrets[0].value, scope="User.Read.All"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_openid_configuration_names_the_token_endpoint_by_tenant_id(
    setup: tuple[EntraState, FakeClient],
) -> None:
    state, client = setup
    tenant = state.add_tenant("Fabrikam", domain="fabrikam.onmicrosoft.com")
    config = client.get("/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{client.base_url}/{tenant.id}/oauth2/v2.0/token"
    assert config["issuer"] == f"{client.base_url}/{tenant.id}/v2.0"
    keys = client.get(config["jwks_uri"].removeprefix(client.base_url)).json()["keys"]
    assert keys[0]["kid"] == signing_key().kid
    missing = client.get("/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_tenant"
    assert missing.json()["error_codes"] == [90002]
