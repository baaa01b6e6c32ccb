"""Fixtures: the SCIM app on each backend, tenants with SCIM tokens, clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from gateway.services import Services
from gateway.settings import Settings
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from scim.app import build_scim_app
from scim.server import ScimServer
from tests import store_seed as seed
from tests.scim.client import ScimClient

MAX_BODY_BYTES = 64 * 1024


@pytest.fixture
def services(engine: Engine) -> Services:
    settings = Settings(
        database_url=str(engine.url),
        max_body_bytes=MAX_BODY_BYTES,
        public_url="https://gw.example.com",
        scim_max_count=50,
        scim_filter_max_length=512,
        scim_filter_max_depth=8,
        scim_bulk_max_operations=20,
    )
    return Services(settings=settings, engine=engine, secrets=seed.secret_box())


@dataclass(frozen=True)
class Tenant:
    id: str
    scim: ScimClient


@pytest.fixture
def scim_server(services: Services) -> Iterator[tuple[object, ScimServer]]:
    app = build_scim_app(services)
    server: ScimServer = app.state.scim
    server.applier.start()
    yield app, server
    server.applier.stop()


def _tenant(services: Services, scim_server: tuple[object, ScimServer], name: str) -> Tenant:
    app, server = scim_server
    tenant = create_tenant(services.engine, name, actor="test")
    _, token = create_token(services.engine, tenant_id=tenant.id, kind="scim", actor="test")
    return Tenant(tenant.id, ScimClient(app, token, server.applier))  # type: ignore[arg-type]


@pytest.fixture
def acme(services: Services, scim_server: tuple[object, ScimServer]) -> Tenant:
    return _tenant(services, scim_server, "Acme")


@pytest.fixture
def globex(services: Services, scim_server: tuple[object, ScimServer]) -> Tenant:
    return _tenant(services, scim_server, "Globex")
