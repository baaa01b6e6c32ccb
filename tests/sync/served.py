"""Gateway processes against the Entra fake served over HTTPS: the tenant's
validated integration, and the environment such a process runs with."""

from __future__ import annotations

import os

from sqlalchemy import Engine

from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret, SecretBox
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.integrations import EntraCredentials, save_integration
from tests.fakes.entra import ServedFake, Tenant
from tests.store.apply_helpers import new_tenant


def connect_served_fake(
    engine: Engine, key: str, entra: Tenant, client_id: str, secret: str, served: ServedFake
) -> str:
    """A new gateway tenant with a validated integration for ``entra`` at ``served``."""
    tenant_id = new_tenant(engine)
    cloud = CloudEndpoints(served.base_url, served.base_url)
    save_integration(
        engine,
        SecretBox.from_keys([key]),
        tenant_id,
        EntraCredentials(entra.id, client_id, Secret(secret), cloud),
        actor="test",
    )
    set_status(engine, tenant_id, VALIDATED, None)
    return tenant_id


def gateway_environment(
    database_url: str, key: str, served: ServedFake, **settings: str
) -> dict[str, str]:
    """This environment without its ``GATEWAY_`` settings, plus the given ones
    (``settings`` by their names after ``GATEWAY_``) and the fake's CA."""
    assert served.ca_bundle is not None
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_SECRET_KEYS": key,
        **{f"GATEWAY_{name.upper()}": value for name, value in settings.items()},
        "SSL_CERT_FILE": str(served.ca_bundle),
    }
