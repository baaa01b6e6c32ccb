"""The identity applier: SCIM changes reach the identity store, in order, once."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import OperationalError

from gateway.store import leases, scim_identity
from gateway.store.apply import ApplyResult
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.leases import LeaseKind
from gateway.store.queries import table
from gateway.store.scim_identity import (
    LEASE_SECONDS,
    IdentityApplier,
    drain_tenant,
    last_change,
)
from gateway.store.scim_resources import (
    GroupFields,
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


def _emails(engine: Engine, tenant_id: str) -> list[str]:
    return sorted(u.primary_email for u in list_users(engine, tenant_id).items)


def test_an_apply_takes_at_most_its_share_of_the_log_in_order(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    for name in ("ann", "bob", "cara"):
        create_resource(engine, tenant.id, _user(name))
    assert drain_tenant(engine, tenant.id, holder="one", max_rows=2) is not None
    assert _emails(engine, tenant.id) == ["ann@contoso.com", "bob@contoso.com"]
    assert _pending(engine) == 1
    last = last_change(engine, tenant.id)
    assert last is not None
    create_resource(engine, tenant.id, _user("dan"))
    # A round applies what was logged when it began; dan waits for the next.
    assert drain_tenant(engine, tenant.id, holder="one", up_to=last) is not None
    assert drain_tenant(engine, tenant.id, holder="one", up_to=last) is None
    assert _emails(engine, tenant.id) == [f"{n}@contoso.com" for n in ("ann", "bob", "cara")]
    assert _pending(engine) == 1


def test_memberships_split_over_applies_end_as_the_last_change_says(engine: Engine) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    ann = create_resource(engine, tenant.id, _user("ann"))
    bob = create_resource(engine, tenant.id, _user("bob"))
    group = create_resource(
        engine, tenant.id, GroupFields("Sales", None, '{"displayName": "Sales"}')
    )
    for change in (
        MemberChange(added=[ann.id, bob.id]),
        MemberChange(removed=[ann.id]),
        MemberChange(added=[ann.id], removed=[bob.id]),
    ):
        update_resource(engine, tenant.id, Kind.GROUP, group.id, lambda _c, m=change: (None, m))
    applier = IdentityApplier(engine, delay=0, batch_rows=2)
    applier.start()
    applier.notify(tenant.id)
    applier.flush()
    applier.stop()
    page = list_users(engine, tenant.id, filters=UserFilter(tag="Sales"))
    assert [u.primary_email for u in page.items] == ["ann@contoso.com"]
    assert _pending(engine) == 0


def test_a_failed_apply_is_tried_again_without_another_request(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    create_resource(sqlite_engine, tenant.id, _user("ann"))
    real = scim_identity.apply_changes
    failures = iter([OperationalError("apply", {}, Exception("database is locked"))])

    def flaky(*args: Any, **kwargs: Any) -> ApplyResult:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(scim_identity, "apply_changes", flaky)
    applier = IdentityApplier(sqlite_engine, delay=0)
    applier.start()
    applier.notify(tenant.id)
    applier.flush()
    applier.stop()
    assert _emails(sqlite_engine, tenant.id) == ["ann@contoso.com"]
    assert _pending(sqlite_engine) == 0


def test_applies_wait_for_a_quiet_moment_but_not_past_their_deferral(
    sqlite_engine: Engine,
) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    create_resource(sqlite_engine, tenant.id, _user("ann"))
    applier = IdentityApplier(sqlite_engine, delay=0, quiet=lambda: False, max_defer=0.2)
    applier.start()
    applier.notify(tenant.id)
    deadline = time.monotonic() + 20
    while _pending(sqlite_engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    applier.stop()
    assert _emails(sqlite_engine, tenant.id) == ["ann@contoso.com"]


def test_a_flush_does_not_wait_for_a_quiet_moment(sqlite_engine: Engine) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    create_resource(sqlite_engine, tenant.id, _user("ann"))
    applier = IdentityApplier(sqlite_engine, delay=0, quiet=lambda: False, max_defer=3600)
    applier.start()
    applier.notify(tenant.id)
    applier.flush(timeout=20)
    applier.stop()
    assert _emails(sqlite_engine, tenant.id) == ["ann@contoso.com"]


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        (scim_identity._USERS_SQL["sqlite"], "ux_scim_users_id"),
        (scim_identity._GROUPS_SQL["sqlite"], "ux_scim_groups_id"),
    ],
)
def test_the_applier_finds_a_batch_by_id_not_by_reading_the_tenant(
    sqlite_engine: Engine, statement: Any, index: str
) -> None:
    # Without planner statistics SQLite would pick the tenant index and test
    # each of the tenant's resources against the list.
    with read_transaction(sqlite_engine) as conn:
        plan = conn.execute(
            text(f"EXPLAIN QUERY PLAN {statement.text}"), {"ids": '["a", "b"]', "t": "tenant"}
        ).all()
    details = " ".join(row[-1] for row in plan)
    assert f"USING INDEX {index} (id=?)" in details
