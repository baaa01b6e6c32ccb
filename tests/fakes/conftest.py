"""Fixtures of the fake's own tests: a small tenant and a signed-in client over the ASGI app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.entra import App, EntraState, Tenant, create_app
from tests.fakes.entra.client import FakeClient


@dataclass
class Directory:
    """A small tenant: five users (a guest, one without mail), two nested groups, a device."""

    state: EntraState
    tenant: Tenant
    app: App
    client: FakeClient
    users: list[dict[str, Any]]
    sales: dict[str, Any]
    nested: dict[str, Any]
    device: dict[str, Any]


@pytest.fixture
def directory() -> Directory:
    state = EntraState(seed=7)
    tenant = state.add_tenant("Contoso")
    app = tenant.add_app(roles=("User.Read.All", "Group.Read.All"))
    users = [tenant.create_user(f"User {i}") for i in range(3)]
    users.append(tenant.create_user("No Mail", mail=None))
    users.append(
        tenant.create_user(
            "Guest",
            user_type="Guest",
            mail="guest@example.org",
            user_principal_name="guest_example.org#EXT#@contoso.onmicrosoft.com",
        )
    )
    sales = tenant.create_group("Sales")
    nested = tenant.create_group("Sales EMEA")
    device = tenant.add_device("Kiosk")
    for user in users[:3]:
        tenant.add_member(sales["id"], user["id"])
    tenant.add_member(sales["id"], nested["id"])
    tenant.add_member(sales["id"], device["id"])
    tenant.add_member(nested["id"], users[3]["id"])
    tenant.add_member(nested["id"], sales["id"])  # a cycle
    client = FakeClient(create_app(state))
    client.sign_in(tenant, app)
    return Directory(state, tenant, app, client, users, sales, nested, device)
