"""The scheduler runs due integrations, and only those."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text, update

from gateway.store.integrations import set_enabled
from gateway.store.queries import table
from gateway.store.runs import list_runs
from gateway.sync.scheduler import Scheduler
from tests.sync.conftest import World


def _runs(world: World) -> list[str]:
    return [r.status for r in list_runs(world.engine, world.tenant_id).items]


def _age_runs(world: World, minutes: int) -> None:
    runs = table("sync_runs")
    with world.engine.begin() as conn:
        for run in list_runs(world.engine, world.tenant_id).items:
            if run.finished_at is not None:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run.id)
                    .values(finished_at=run.finished_at - timedelta(minutes=minutes))
                )


def test_a_due_integration_runs_once_per_interval(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    scheduler = Scheduler(world.services)

    assert scheduler.tick() == [world.tenant_id]
    scheduler.wait_for_runs(30)
    assert scheduler.tick() == []
    _age_runs(world, 41)
    assert scheduler.tick() == [world.tenant_id]
    scheduler.wait_for_runs(30)

    assert _runs(world) == ["succeeded", "succeeded"]


def test_disabled_integrations_and_sync_off_do_not_run(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    scheduler = Scheduler(world.services)
    set_enabled(world.engine, world.tenant_id, False, actor="test")

    assert scheduler.tick() == []
    set_enabled(world.engine, world.tenant_id, True, actor="test")
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE integrations SET sync_enabled = false"))
    assert scheduler.tick() == []


def test_a_run_waiting_for_confirmation_is_not_repeated(world: World) -> None:
    staff = [world.user(f"S {i}") for i in range(12)]
    sales = world.group("Sales", *staff)
    world.select(sales["id"])
    world.sync()
    for user in staff:
        world.entra.remove_member(sales["id"], user["id"])
    assert world.sync().status == "needs_confirmation"
    _age_runs(world, 60)

    assert Scheduler(world.services).tick() == []
