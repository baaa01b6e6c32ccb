"""A gateway tenant connected to a tenant of the Entra fake, on each store backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.crypto import Secret as GatewaySecret
from gateway.services import Services
from gateway.settings import Settings
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.integrations import EntraCredentials, Preferences, save_integration
from gateway.store.integrations import save_preferences as store_preferences
from gateway.sync.engine import RunOutcome, RunRequest
from gateway.sync.service import run_sync
from tests import store_seed as seed
from tests.fakes.entra import App, EntraState, Tenant, create_app
from tests.graph.fake import in_process_connector
from tests.store.apply_helpers import new_tenant


@dataclass
class World:
    """The store, the fake Entra tenant, and the gateway tenant synced from it."""

    services: Services
    entra: Tenant
    app: App
    tenant_id: str

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def state(self) -> EntraState:
        return self.entra.state

    def select(self, *group_ids: str) -> None:
        store_preferences(
            self.engine,
            self.tenant_id,
            Preferences(sync_enabled=True, groups=tuple(group_ids), sites=()),
            actor="test",
        )

    def sync(self, **kwargs: Any) -> RunOutcome:
        return run_sync(self.services, RunRequest(self.tenant_id, **kwargs))

    def user(self, name: str, **kwargs: Any) -> dict[str, Any]:
        slug = name.lower().replace(" ", ".")
        upn = f"{slug}@{self.entra.default_domain}"
        return self.entra.create_user(name, user_principal_name=upn, **kwargs)

    def group(self, name: str, *members: dict[str, Any]) -> dict[str, Any]:
        group = self.entra.create_group(name)
        for member in members:
            self.entra.add_member(group["id"], member["id"])
        return group


def settings_for(engine: Engine, **changes: Any) -> Settings:
    return Settings(database_url=str(engine.url), **changes)


@pytest.fixture
def settings_changes() -> dict[str, Any]:
    return {}


@pytest.fixture
def world(
    engine: Engine, entra_state: EntraState, settings_changes: dict[str, Any]
) -> Iterator[World]:
    entra = entra_state.add_tenant("Contoso")
    app = entra.add_app(roles=("User.Read.All", "Group.Read.All"))
    tenant_id = new_tenant(engine)
    box = seed.secret_box()
    save_integration(
        engine,
        box,
        tenant_id,
        EntraCredentials(
            entra_tenant_id=entra.id,
            client_id=app.client_id,
            client_secret=GatewaySecret(app.secrets[0].value),
            cloud="global",
        ),
        actor="test",
    )
    set_status(engine, tenant_id, VALIDATED, None)
    with in_process_connector(create_app(entra_state)) as graph:
        services = Services(
            settings=settings_for(engine, **settings_changes),
            engine=engine,
            secrets=box,
            graph=graph,
        )
        yield World(services, entra, app, tenant_id)
