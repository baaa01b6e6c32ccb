"""The fake served on loopback over HTTPS with a private CA, used by the real MSAL."""

from __future__ import annotations

import httpx
import msal
import pytest

from tests.fakes.entra import EntraState, ServedFake, Tenant


@pytest.fixture(autouse=True)
def _trust_the_private_ca(entra_https: ServedFake, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (under MSAL) lets REQUESTS_CA_BUNDLE override a session's verify=, so an
    # operator's private CA is given the standard way, as the gateway's users would.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra_https.ca_bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(entra_https.ca_bundle))


def _msal_app(
    served: ServedFake, tenant: str, client_id: str, secret: str
) -> msal.ClientApplication:
    assert served.ca_bundle is not None
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{served.base_url}/{tenant}",
        instance_discovery=False,
        verify=str(served.ca_bundle),
    )


def test_msal_gets_a_token_and_graph_accepts_it(
    entra_https: ServedFake, entra_tenant: Tenant
) -> None:
    app = next(iter(entra_tenant.apps.values()))
    entra_tenant.create_user("Ada Lovelace")
    client = _msal_app(entra_https, entra_tenant.id, app.client_id, app.secrets[0].value)
    result = client.acquire_token_for_client(scopes=[f"{entra_https.base_url}/.default"])
    assert "access_token" in result, result
    with httpx.Client(verify=entra_https.ssl_context()) as http:
        response = http.get(
            f"{entra_https.base_url}/v1.0/users?$select=displayName",
            headers={"Authorization": f"Bearer {result['access_token']}"},
        )
    assert response.status_code == 200
    assert response.json()["value"][0]["displayName"] == "Ada Lovelace"
    counts = entra_https.state.requests.counts
    assert counts[("GET", f"/{entra_tenant.id}/v2.0/.well-known/openid-configuration")] == 1
    assert counts[("POST", f"/{entra_tenant.id}/oauth2/v2.0/token")] == 1


@pytest.mark.parametrize(
    ("case", "code"),
    [("secret id", 7000215), ("expired", 7000222), ("other app", 700016)],
)
def test_msal_returns_the_aadsts_error_fields(
    entra_https: ServedFake, entra_state: EntraState, entra_tenant: Tenant, case: str, code: int
) -> None:
    app = next(iter(entra_tenant.apps.values()))
    client_id, secret = app.client_id, app.secrets[0].value
    if case == "secret id":
        secret = app.secrets[0].id
    elif case == "expired":
        entra_tenant.expire_secret(app.client_id)
    else:
        client_id = entra_state.add_tenant("Elsewhere").add_app().client_id
    client = _msal_app(entra_https, entra_tenant.id, client_id, secret)
    result = client.acquire_token_for_client(scopes=[f"{entra_https.base_url}/.default"])
    assert "access_token" not in result
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}:")
    assert result["trace_id"] in result["error_description"]
    assert result["correlation_id"] in result["error_description"]


def test_msal_reports_an_unknown_tenant(entra_https: ServedFake) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _msal_app(entra_https, "nope.onmicrosoft.com", "x", "y")
