from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway.errors import ConflictError, ValidationFailedError
from gateway.store import audit
from gateway.store.engine import read_transaction
from gateway.store.sites import create_site, existing_site_ids, list_sites
from gateway.store.tenants import create_tenant


def test_sites_are_created_listed_by_name_and_audited(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    berlin = create_site(engine, tenant.id, " Berlin ", actor="token:a")
    athens = create_site(engine, tenant.id, "athens", actor="token:a")

    assert berlin.name == "Berlin"
    assert list_sites(engine, tenant.id) == [athens, berlin]
    entries = audit.list_entries(engine, tenant.id)
    assert entries[0].action == "site.created"
    assert entries[0].subject_id == str(athens.id)


def test_site_name_is_unique_per_tenant_ignoring_case(engine: Engine) -> None:
    acme = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    create_site(engine, acme.id, "Berlin", actor="a")

    with pytest.raises(ConflictError):
        create_site(engine, acme.id, "BERLIN", actor="a")
    create_site(engine, other.id, "berlin", actor="a")
    assert len(list_sites(engine, acme.id)) == 1


@pytest.mark.parametrize("name", ["", " ", "x" * 101])
def test_site_name_length_is_checked(engine: Engine, name: str) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    with pytest.raises(ValidationFailedError):
        create_site(engine, tenant.id, name, actor="a")


def test_existing_site_ids_only_counts_the_tenants_sites(engine: Engine) -> None:
    acme = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    mine = create_site(engine, acme.id, "Berlin", actor="a")
    theirs = create_site(engine, other.id, "Paris", actor="a")

    with read_transaction(engine) as conn:
        assert existing_site_ids(conn, acme.id, [mine.id, theirs.id, 999]) == {mine.id}
