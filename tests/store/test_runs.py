from __future__ import annotations

from sqlalchemy import Engine

from gateway.store.engine import write_transaction
from gateway.store.runs import get_run, list_runs
from gateway.store.tenants import create_tenant
from tests import store_seed as seed


def test_runs_are_listed_newest_first_in_pages(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    with write_transaction(engine) as conn:
        ids = [seed.sync_run(conn, tenant.id) for _ in range(5)]
        seed.sync_run(conn, other.id)

    first = list_runs(engine, tenant.id, limit=2)
    second = list_runs(engine, tenant.id, before_id=first.next_after, limit=2)
    third = list_runs(engine, tenant.id, before_id=second.next_after, limit=2)

    assert [r.id for r in first.items] == ids[:2:-1][:2] == [ids[4], ids[3]]
    assert [r.id for r in second.items] == [ids[2], ids[1]]
    assert [r.id for r in third.items] == [ids[0]]
    assert third.next_after is None


def test_get_run_stays_in_its_tenant(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    with write_transaction(engine) as conn:
        run_id = seed.sync_run(conn, tenant.id, warnings=[{"code": "no_primary_email"}])

    run = get_run(engine, tenant.id, run_id)
    assert run is not None
    assert run.warnings == [{"code": "no_primary_email"}]
    assert run.counts == {"users_created": 1}
    assert get_run(engine, other.id, run_id) is None
