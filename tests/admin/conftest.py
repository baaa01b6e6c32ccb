"""Fixtures for the admin API: services on each backend, tenants, and clients with tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select

from gateway.services import Services
from gateway.settings import Settings
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.sites import create_site
from gateway.store.sso_tests import create_test
from gateway.store.tables import metadata
from gateway.store.tags import tag_user
from gateway.store.teams import add_member, create_team
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from tests import store_seed as seed
from tests.admin.client import AdminClient
from tests.fakes.entra import EntraState, Secret, create_app
from tests.graph.fake import app_with_secret, in_process_connector, tenant_named

MAX_BODY_BYTES = 4096


# The Entra apps the admin tests' credentials name, in the fake Entra.
ENTRA_TENANT = "8f0e1c2a-1111-4a2b-9c3d-0123456789ab"
ENTRA_CLIENT = "11111111-2222-4333-8444-555555555555"
ENTRA_SECRETS = ("the-client-secret", seed.SECRET_VALUE)
OTHER_CLIENT = "aaaaaaaa-0000-4000-8000-000000000001"
OTHER_SECRET = "another-secret"


def register_test_apps(state: EntraState) -> None:
    """The fake tenant (domain contoso.onmicrosoft.com) and its apps with known secrets."""
    tenant = tenant_named(state, ENTRA_TENANT)
    app = app_with_secret(tenant, ENTRA_CLIENT, ENTRA_SECRETS[0])
    app.secrets.append(Secret("second", ENTRA_SECRETS[1], app.secrets[0].expires_at))
    app_with_secret(tenant, OTHER_CLIENT, OTHER_SECRET)


@pytest.fixture
def services(engine: Engine, entra_state: EntraState) -> Iterator[Services]:
    settings = Settings(
        database_url=str(engine.url), max_body_bytes=MAX_BODY_BYTES, page_size_max=50
    )
    register_test_apps(entra_state)
    with in_process_connector(create_app(entra_state)) as graph:
        yield Services(settings=settings, engine=engine, secrets=seed.secret_box(), graph=graph)


@dataclass(frozen=True)
class Tenant:
    id: str
    admin: AdminClient


@pytest.fixture
def operator(services: Services) -> AdminClient:
    """A client holding an operator token (all tenants)."""
    _, token = create_token(services.engine, tenant_id=None, kind="admin", actor="test")
    return AdminClient(services, token)


def _tenant(services: Services, operator: AdminClient, name: str) -> Tenant:
    tenant = create_tenant(services.engine, name, actor="test")
    _, token = create_token(services.engine, tenant_id=tenant.id, kind="admin", actor="test")
    return Tenant(id=tenant.id, admin=operator.as_token(token))


@pytest.fixture
def acme(services: Services, operator: AdminClient) -> Tenant:
    """A tenant and a client holding that tenant's admin token."""
    return _tenant(services, operator, "Acme")


@pytest.fixture
def globex(services: Services, operator: AdminClient) -> Tenant:
    """A second tenant, to prove isolation."""
    return _tenant(services, operator, "Globex")


@dataclass(frozen=True)
class Ids:
    """Ids of one of every kind of object in a populated tenant."""

    tenant_id: str
    site_id: int
    team_id: int
    user_id: int
    run_id: int
    token_id: str
    tag_id: int
    sign_in_test_id: str = "2" * 32

    def path_values(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "team_id": str(self.team_id),
            "user_id": str(self.user_id),
            "run_id": str(self.run_id),
            "token_id": self.token_id,
            "tag_id": str(self.tag_id),
            "sign_in_test_id": self.sign_in_test_id,
        }


def populate(services: Services, tenant_id: str) -> Ids:
    """A validated integration, a site, a team with a member, a run waiting for
    confirmation, a spare token, a tag given by hand and an admin's test sign-in."""
    engine = services.engine
    seed.integration(engine, services.secrets, tenant_id)
    set_status(engine, tenant_id, VALIDATED, None)
    site = create_site(engine, tenant_id, "Berlin", actor="test")
    team = create_team(engine, tenant_id, "Ops", actor="test")
    with write_transaction(engine) as conn:
        user_id = seed.user(conn, tenant_id, "ann@example.com")
        run_id = seed.sync_run(conn, tenant_id, status="needs_confirmation")
    add_member(engine, tenant_id, team.id, user_id, actor="test")
    token, _ = create_token(engine, tenant_id=tenant_id, kind="scim", actor="test")
    tag = tag_user(engine, tenant_id, user_id, "VIP", actor="test")
    sign_in_test, _ = create_test(engine, tenant_id, actor="test")
    return Ids(tenant_id, site.id, team.id, user_id, run_id, token.id, tag.tag_id, sign_in_test.id)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a request changed nothing.

    ``api_tokens.last_used_at`` is left out: authenticating may refresh it.
    """
    state: dict[str, list[tuple[object, ...]]] = {}
    with read_transaction(engine) as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "last_used_at"]
            rows = conn.execute(select(*columns)).all()
            state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state
