"""The client secret never leaves the store: not in answers, logs, errors or reprs (rule 11)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.admin import ENDPOINTS
from gateway.services import Services
from gateway.store import audit
from gateway.store.integrations import get_integration, load_client_secret
from tests.admin.client import AdminClient
from tests.admin.conftest import ENTRA_CLIENT, ENTRA_TENANT, Tenant, populate
from tests.fakes.entra import EntraState, Secret

SECRET = "Zq8~very.secret-value_0123456789"


def integration(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": "8f0e1c2a-1111-4a2b-9c3d-0123456789ab",
        "client_id": "11111111-2222-4333-8444-555555555555",
        "client_secret": SECRET,
        "cloud": "global",
    }
    body.update(changes)
    return body


def test_secret_appears_in_no_response_log_or_repr(
    services: Services,
    operator: AdminClient,
    acme: Tenant,
    caplog: pytest.LogCaptureFixture,
    entra_state: EntraState,
) -> None:
    # Entra knows this secret, so the PUT sends it through MSAL to the token endpoint.
    app = entra_state.tenants[ENTRA_TENANT].apps[ENTRA_CLIENT]
    app.secrets.append(Secret("leak-test", SECRET, app.secrets[0].expires_at))
    caplog.set_level(logging.DEBUG)
    base = f"/tenants/{acme.id}/integrations/entra"
    ids = populate(services, acme.id)
    texts: list[str] = []

    texts.append(acme.admin.put(base, json=integration()).text)
    # Failing requests that carry the secret must not echo it either.
    texts.append(acme.admin.put(base, json=integration(client_id="bad")).text)
    texts.append(acme.admin.put(base, json=integration(client_secret=SECRET * 100)).text)
    texts.append(acme.admin.put(base, json=integration(extra=SECRET)).text)
    texts.append(acme.admin.put(base, json=integration(cloud=SECRET)).text)
    # Every readable route, as the tenant admin and as the operator.
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET":
            path = endpoint.path.format(**ids.path_values())
            texts.append(acme.admin.get(path).text)
            texts.append(operator.get(path).text)
    texts.append(acme.admin.raw("GET", "/openapi.json").text)

    for text in texts:
        assert SECRET not in text
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in repr(record.args)
    saved = get_integration(services.engine, acme.id)
    assert saved is not None
    assert SECRET not in repr(saved)
    for entry in audit.list_entries(services.engine, acme.id, limit=1000):
        assert SECRET not in repr(entry)
    loaded = load_client_secret(services.engine, services.secrets, acme.id)
    assert loaded is not None
    assert SECRET not in repr(loaded)
    assert loaded.reveal() == SECRET
