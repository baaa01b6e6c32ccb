"""Pytest fixtures for the Entra/Graph fake (registered as a plugin in ``tests/conftest.py``).

- ``entra_state``: an empty :class:`EntraState` (seeded).
- ``entra_tenant``: a tenant with one app (``User.Read.All``, ``Group.Read.All``,
  ``GroupMember.Read.All``) in ``entra_state``.
- ``entra_app``: the ASGI app over ``entra_state``, for ``httpx.ASGITransport``.
- ``entra_https`` / ``entra_http``: the fake served on loopback (HTTPS with a private
  CA, or plain HTTP), as a :class:`ServedFake`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from tests.fakes.entra.app import create_app
from tests.fakes.entra.server import ServedFake, serve
from tests.fakes.entra.state import EntraState, Tenant


@pytest.fixture
def entra_state() -> EntraState:
    return EntraState(seed=1)


@pytest.fixture
def entra_tenant(entra_state: EntraState) -> Tenant:
    tenant = entra_state.add_tenant("Contoso")
    tenant.add_app(roles=("User.Read.All", "Group.Read.All", "GroupMember.Read.All"))
    return tenant


@pytest.fixture
def entra_app(entra_state: EntraState) -> Starlette:
    return create_app(entra_state)


@pytest.fixture
def entra_https(entra_state: EntraState) -> Iterator[ServedFake]:
    with serve(entra_state, https=True) as served:
        yield served


@pytest.fixture
def entra_http(entra_state: EntraState) -> Iterator[ServedFake]:
    with serve(entra_state, https=False) as served:
        yield served
