"""The fake served on loopback over plain HTTP (the benchmark's transport)."""

from __future__ import annotations

import httpx

from tests.fakes.entra import ServedFake, Tenant


def test_token_and_graph_over_plain_http(entra_http: ServedFake, entra_tenant: Tenant) -> None:
    assert entra_http.base_url.startswith("http://127.0.0.1:")
    assert entra_http.ca_bundle is None
    app = next(iter(entra_tenant.apps.values()))
    with httpx.Client(base_url=entra_http.base_url) as http:
        token = http.post(
            f"/{entra_tenant.id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": app.secrets[0].value,
                "scope": f"{entra_http.base_url}/.default",
            },
        ).json()["access_token"]
        response = http.get("/v1.0/groups", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
