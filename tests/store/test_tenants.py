from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway.errors import ValidationFailedError
from gateway.store import audit
from gateway.store.tenants import create_tenant, get_tenant, list_tenants


def test_created_tenant_can_be_read_back_and_is_audited(engine: Engine) -> None:
    tenant = create_tenant(engine, "  Acme Corp ", actor="cli")

    assert len(tenant.id) == 32
    assert tenant.name == "Acme Corp"
    assert get_tenant(engine, tenant.id) == tenant
    [entry] = audit.list_entries(engine, tenant.id)
    assert (entry.action, entry.actor, entry.after) == (
        "tenant.created",
        "cli",
        {"name": "Acme Corp"},
    )


def test_unknown_tenant_is_none(engine: Engine) -> None:
    assert get_tenant(engine, "0" * 32) is None


def test_list_tenants_returns_every_tenant(engine: Engine) -> None:
    first = create_tenant(engine, "One", actor="cli")
    second = create_tenant(engine, "Two", actor="cli")

    assert {t.id for t in list_tenants(engine)} == {first.id, second.id}


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_blank_or_long_tenant_name_is_refused(engine: Engine, name: str) -> None:
    with pytest.raises(ValidationFailedError):
        create_tenant(engine, name, actor="cli")
    assert list_tenants(engine) == []
