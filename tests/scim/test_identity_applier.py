"""The identity applier: SCIM changes reach the identity store, in order, once."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from gateway.store import leases
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.leases import LeaseKind
from gateway.store.queries import table
from gateway.store.scim_identity import LEASE_SECONDS, IdentityApplier, drain_tenant
from gateway.store.scim_resources import (
    Kind,
    MemberChange,
    UserFields,
    create_resource,
    delete_resource,
    update_resource,
)
from gateway.store.tables import utcnow
from gateway.store.tenants import create_tenant
from gateway.store.users import UserFilter, list_users


def _user(name: str, *, active: bool = True) -> UserFields:
    email = f"{name}@contoso.com"
    body = {"userName": email, "emails": [{"value": email, "primary": True}], "active": active}
    return UserFields(email, None, name, active, json.dumps(body))


def _pending(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(
            conn.execute(select(func.count()).select_from(table("scim_changes"))).scalar_one()
        )


def test_changes_left_by_a_stopped_process_are_applied_at_start(sqlite_engine: Engine) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    create_resource(sqlite_engine, tenant.id, _user("ann"))
    assert _pending(sqlite_engine) == 1
    assert list_users(sqlite_engine, tenant.id).items == ()
    applier = IdentityApplier(sqlite_engine, delay=0)
    applier.start()
    applier.flush()
    applier.stop()
    assert [u.primary_email for u in list_users(sqlite_engine, tenant.id).items] == [
        "ann@contoso.com"
    ]
    assert _pending(sqlite_engine) == 0


def test_the_applier_copies_the_write_ahead_log_into_the_database(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    # Checkpoints run in the applier's thread, not in the request whose commit
    # would cross the auto-checkpoint size: the database file alone, without
    # its log, then holds what the requests wrote.
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    ann = create_resource(sqlite_engine, tenant.id, _user("ann"))
    applier = IdentityApplier(sqlite_engine, delay=0)
    applier.start()
    applier.notify(tenant.id)
    applier.flush()
    applier.stop()
    database = sqlite_engine.url.database
    assert database is not None
    copy = tmp_path / "without-log.db"
    shutil.copyfile(database, copy)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT id FROM scim_users").fetchall() == [(ann.id,)]
        assert conn.execute("SELECT COUNT(*) FROM scim_changes").fetchone() == (0,)


def test_the_last_state_wins_and_replays_change_nothing(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    ann = create_resource(engine, tenant.id, _user("ann"))
    update_resource(
        engine,
        tenant.id,
        Kind.USER,
        ann.id,
        lambda _c: (_user("ann", active=False), MemberChange()),
    )
    bob = create_resource(engine, tenant.id, _user("bob"))
    delete_resource(engine, tenant.id, Kind.USER, bob.id)
    result = drain_tenant(engine, tenant.id, holder="one")
    assert result is not None
    users = {u.primary_email: u.active for u in list_users(engine, tenant.id).items}
    # bob was created and deleted within one batch: never an identity.
    assert users == {"ann@contoso.com": False}
    assert drain_tenant(engine, tenant.id, holder="one") is None


def test_a_held_lease_keeps_other_processes_out(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    create_resource(engine, tenant.id, _user("ann"))
    assert leases.acquire(engine, LeaseKind.SCIM_IDENTITY, tenant.id, "first", LEASE_SECONDS)
    assert drain_tenant(engine, tenant.id, holder="second") is None
    assert _pending(engine) == 1
    with write_transaction(engine) as conn:
        conn.execute(update(table("leases")).values(expires_at=utcnow()))
    assert drain_tenant(engine, tenant.id, holder="second") is not None
    assert _pending(engine) == 0
    page = list_users(engine, tenant.id, filters=UserFilter(email="ann@contoso.com"))
    assert len(page.items) == 1
