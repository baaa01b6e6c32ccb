"""Per-tenant leases: one holder at a time per kind of work, taken over once expired."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, update

from gateway.store import leases
from gateway.store.engine import write_transaction
from gateway.store.leases import LeaseKind
from gateway.store.queries import table
from gateway.store.tables import utcnow
from gateway.store.tenants import create_tenant

SYNC = LeaseKind.GRAPH_SYNC
SCIM = LeaseKind.SCIM_IDENTITY


def _expire(engine: Engine, tenant_id: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(table("leases"))
            .where(table("leases").c.tenant_id == tenant_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_a_live_lease_keeps_others_out_and_its_holder_renews_it(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test").id
    assert leases.current(engine, SYNC, tenant) == (None, None)
    assert leases.acquire(engine, SYNC, tenant, "one", 60)
    first_expiry = leases.current(engine, SYNC, tenant)[1]
    assert not leases.acquire(engine, SYNC, tenant, "two", 60)
    assert leases.acquire(engine, SYNC, tenant, "one", 120)
    holder, expires = leases.current(engine, SYNC, tenant)
    assert holder == "one"
    assert first_expiry is not None
    assert expires is not None
    assert expires > first_expiry


def test_an_expired_lease_is_taken_over(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test").id
    assert leases.acquire(engine, SYNC, tenant, "crashed", 60)
    _expire(engine, tenant)
    assert leases.acquire(engine, SYNC, tenant, "survivor", 60)
    assert leases.current(engine, SYNC, tenant)[0] == "survivor"
    # The old holder, back from the dead, cannot renew what it lost.
    assert not leases.acquire(engine, SYNC, tenant, "crashed", 60)


def test_only_the_holder_releases(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test").id
    assert leases.acquire(engine, SYNC, tenant, "one", 60)
    leases.release(engine, SYNC, tenant, "two")
    assert leases.current(engine, SYNC, tenant)[0] == "one"
    leases.release(engine, SYNC, tenant, "one")
    assert leases.current(engine, SYNC, tenant) == (None, None)
    assert leases.acquire(engine, SYNC, tenant, "two", 60)


def test_kinds_and_tenants_are_independent(engine: Engine) -> None:
    contoso = create_tenant(engine, "Contoso", actor="test").id
    fabrikam = create_tenant(engine, "Fabrikam", actor="test").id
    assert leases.acquire(engine, SYNC, contoso, "sync", 60)
    assert leases.acquire(engine, SCIM, contoso, "applier", 60)
    assert leases.acquire(engine, SYNC, fabrikam, "other", 60)
    assert leases.current(engine, SYNC, contoso)[0] == "sync"
    assert leases.current(engine, SCIM, contoso)[0] == "applier"
    leases.release(engine, SYNC, contoso, "sync")
    assert leases.current(engine, SCIM, contoso)[0] == "applier"


def test_racing_holders_one_wins(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test").id
    racers = 6
    start = threading.Barrier(racers)
    won: list[str] = []

    def race(holder: str) -> None:
        start.wait()
        if leases.acquire(engine, SYNC, tenant, holder, 60):
            won.append(holder)

    threads = [threading.Thread(target=race, args=(f"racer-{i}",)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert leases.current(engine, SYNC, tenant)[0] == won[0]
