"""Dry runs, the deactivation threshold and its confirmation, expired secrets, disabling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from gateway.errors import ConflictError
from gateway.store import leases
from gateway.store.graph_sync import awaiting_confirmation, run_report
from gateway.store.integrations import set_enabled
from gateway.store.leases import LeaseKind
from gateway.store.runs import get_run
from gateway.store.tables import utcnow
from gateway.sync.engine import RunRequest, SyncEngine
from gateway.sync.service import confirm_run, policy_for, run_sync
from tests.admin.conftest import snapshot
from tests.store.apply_helpers import user_tags, users_by_email
from tests.sync.conftest import World


def test_a_dry_run_returns_the_exact_diff_and_changes_nothing(world: World) -> None:
    ann, bob = world.user("Ann A"), world.user("Bob B")
    sales = world.group("Sales", ann, bob)
    world.select(sales["id"])
    world.sync()
    world.entra.update_user(ann["id"], displayName="Ann Renamed")
    world.entra.remove_member(sales["id"], bob["id"])
    world.entra.rename_group(sales["id"], "Sales EU")
    before = snapshot(world.engine)

    outcome = world.sync(dry_run=True)

    assert outcome.status == "dry_run", outcome.error
    actions = {(c["action"], c["subject_type"]) for c in outcome.changes}
    assert ("user.updated", "user") in actions
    assert ("user.deactivated", "user") in actions
    assert any(c["subject_type"] == "tag" for c in outcome.changes)
    after = snapshot(world.engine)
    # Only the run's own report rows differ.
    for table in ("users", "group_memberships", "groups", "tags", "graph_sync_states"):
        assert after[table] == before[table], table
    assert world.sync().counts == outcome.counts


def test_a_run_past_the_threshold_waits_for_confirmation(world: World) -> None:
    staff = [world.user(f"Staff {i}") for i in range(20)]
    sales = world.group("Sales", *staff)
    world.select(sales["id"])
    world.sync()
    for user in staff[:12]:
        world.entra.remove_member(sales["id"], user["id"])

    stopped = world.sync()

    assert stopped.status == "needs_confirmation"
    assert stopped.report["would_deactivate"] == 12
    assert all(u.active for u in users_by_email(world.engine, world.tenant_id).values())
    assert awaiting_confirmation(world.engine, world.tenant_id) == stopped.run_id
    # The scheduler's next attempt stops the same way; nothing is lost meanwhile.
    assert world.sync().status == "needs_confirmation"
    newest = awaiting_confirmation(world.engine, world.tenant_id)
    assert newest is not None

    confirmed = confirm_run(world.services, world.tenant_id, newest)

    assert confirmed.status == "succeeded", confirmed.error
    assert confirmed.report["confirmation_of"] == newest
    active = [u for u in users_by_email(world.engine, world.tenant_id).values() if u.active]
    assert len(active) == 8


def test_an_expired_secret_fails_runs_and_keeps_every_user(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.sync()
    with world.engine.begin() as conn:
        conn.execute(
            text("UPDATE integrations SET secret_expires_at = :at WHERE tenant_id = :t"),
            {"at": utcnow() - timedelta(minutes=1), "t": world.tenant_id},
        )

    outcome = world.sync()

    assert outcome.status == "failed"
    assert outcome.report["cause"] == "client_secret_expired"
    assert all(u.active for u in users_by_email(world.engine, world.tenant_id).values())


def test_entra_refusing_the_secret_mid_life_fails_with_the_cause(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.entra.expire_secret(world.app.client_id)

    outcome = world.sync()

    assert outcome.status == "failed"
    assert outcome.report["cause"] == "client_secret_expired"
    assert "AADSTS7000222" in (outcome.error or "")


def test_disabling_the_integration_stops_a_running_job_without_removals(world: World) -> None:
    staff = [world.user(f"Staff {i}") for i in range(3)]
    sales = world.group("Sales", *staff)
    world.select(sales["id"])
    world.sync()
    world.entra.remove_member(sales["id"], staff[0]["id"])
    calls = {"n": 0}

    def disabled_after_first_page() -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            set_enabled(world.engine, world.tenant_id, False, actor="test")
        return calls["n"] < 2

    engine = SyncEngine(
        world.engine,
        world.services.secrets,
        world.services.graph,
        policy_for(world.services.settings),
        should_continue=disabled_after_first_page,
    )
    outcome = engine.run(RunRequest(world.tenant_id, force_full=True))

    assert outcome.status == "cancelled"
    assert all(u.active for u in users_by_email(world.engine, world.tenant_id).values())
    assert run_report(world.engine, world.tenant_id, outcome.run_id) is not None
    run = get_run(world.engine, world.tenant_id, outcome.run_id)
    assert run is not None
    assert run.status == "cancelled"


def test_runs_of_one_tenant_never_overlap(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    assert leases.acquire(world.engine, LeaseKind.GRAPH_SYNC, world.tenant_id, "other-process", 60)

    with pytest.raises(ConflictError, match="already running"):
        run_sync(world.services, RunRequest(world.tenant_id))
    assert user_tags(world.engine, world.tenant_id) == {}


def test_two_runs_in_one_process_do_not_share_the_lease(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    entered: list[str] = []

    def nested_run(_stage: str, _count: int) -> None:
        if not entered:
            entered.append("once")
            with pytest.raises(ConflictError):
                run_sync(world.services, RunRequest(world.tenant_id))

    outcome = run_sync(world.services, RunRequest(world.tenant_id), progress=nested_run)

    assert entered == ["once"]
    assert outcome.status == "succeeded"
