"""Incremental runs follow delta links and apply only what changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.store.graph_sync import load_delta_state
from tests.store.apply_helpers import user_tags, users_by_email
from tests.sync.conftest import World


def _mail(user: dict[str, Any]) -> str:
    return str(user["mail"]).lower()


def test_a_second_run_is_a_delta_run_applying_each_kind_of_change(world: World) -> None:
    staff = [world.user(f"Staff {i}") for i in range(6)]
    sales = world.group("Sales", *staff[:4])
    ops = world.group("Ops", staff[3], staff[4], staff[5])
    world.select(sales["id"], ops["id"])
    assert world.sync().kind == "full"
    newcomer = world.user("New Comer")
    e = world.entra
    e.add_member(sales["id"], newcomer["id"])  # in scope now, fetched by id
    e.update_user(staff[0]["id"], displayName="Renamed Zero")
    e.update_user(staff[1]["id"], accountEnabled=False)
    e.remove_member(sales["id"], staff[2]["id"])  # in no group any more: leaves
    e.remove_member(sales["id"], staff[3]["id"])  # still in Ops: stays
    e.delete_user(staff[4]["id"])
    e.rename_group(ops["id"], "Operations")
    before = world.state.requests.count(prefix="/v1.0/")

    outcome = world.sync()

    assert outcome.status == "succeeded", outcome.error
    assert (outcome.kind, outcome.report["reason"]) == ("delta", "incremental")
    stored = users_by_email(world.engine, world.tenant_id)
    assert stored[_mail(newcomer)].active
    assert stored[_mail(staff[0])].display_name == "Renamed Zero"
    assert not stored[_mail(staff[1])].active
    assert not stored[_mail(staff[2])].active
    assert stored[_mail(staff[3])].active
    assert not stored[_mail(staff[4])].active
    assert stored[_mail(staff[5])].active
    tags = user_tags(world.engine, world.tenant_id)
    assert tags[_mail(staff[3])] == {"Operations"}
    assert tags[_mail(newcomer)] == {"Sales"}
    # A handful of requests, not a re-read of the tenant.
    assert world.state.requests.count(prefix="/v1.0/") - before <= 8


def test_an_unchanged_tenant_costs_one_request_per_delta_link(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.sync()
    before = world.state.requests.count(prefix="/v1.0/")

    outcome = world.sync()

    assert outcome.kind == "delta"
    assert outcome.counts.get("user_updated", 0) == 0
    assert world.state.requests.count(prefix="/v1.0/") - before == 2


def test_members_delta_split_across_pages_is_merged(world: World) -> None:
    world.state.config.delta_members_per_page = 2
    world.state.config.delta_page_size = 2
    sales = world.group("Sales", world.user("Ann A"))
    world.select(sales["id"])
    world.sync()
    added = [world.user(f"Added {i}") for i in range(7)]
    for user in added:
        world.entra.add_member(sales["id"], user["id"])
    world.entra.remove_member(sales["id"], added[6]["id"])

    outcome = world.sync()

    assert outcome.kind == "delta", outcome.report
    tags = user_tags(world.engine, world.tenant_id)
    assert all(tags.get(_mail(u)) == {"Sales"} for u in added[:6])
    assert _mail(added[6]) not in tags


def test_a_change_inside_a_nested_group_reaches_the_selected_group(world: World) -> None:
    ann, bob = world.user("Ann A"), world.user("Bob B")
    inner = world.group("Inner", ann, bob)
    sales = world.group("Sales", inner)
    world.select(sales["id"])
    world.sync()
    cai = world.user("Cai C")
    world.entra.add_member(inner["id"], cai["id"])
    world.entra.remove_member(inner["id"], ann["id"])

    outcome = world.sync()

    assert outcome.kind == "delta"
    stored = users_by_email(world.engine, world.tenant_id)
    assert stored[_mail(cai)].active
    assert not stored[_mail(ann)].active
    assert user_tags(world.engine, world.tenant_id)[_mail(bob)] == {"Sales"}


def test_changed_nesting_turns_into_a_full_run(world: World) -> None:
    sales = world.group("Sales", world.user("Ann A"))
    world.select(sales["id"])
    world.sync()
    extra = world.group("Extra", world.user("Bob B"))
    world.entra.add_member(sales["id"], extra["id"])

    outcome = world.sync()

    assert (outcome.kind, outcome.report["reason"]) == ("full", "group_nesting_changed")
    assert len(users_by_email(world.engine, world.tenant_id)) == 2


@pytest.mark.parametrize("settings_changes", [{"sync_backstop_hours": 10_000}])
def test_an_expired_delta_link_means_a_full_resync_reported_as_such(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.sync()
    world.state.clock.advance(timedelta(days=8))

    outcome = world.sync()

    assert outcome.status == "succeeded", outcome.error
    assert (outcome.kind, outcome.report["reason"]) == ("full", "delta_expired")


def test_a_410_on_a_delta_link_means_a_full_resync(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.sync()
    world.state.faults.resync()

    outcome = world.sync()

    assert (outcome.kind, outcome.report["reason"]) == ("full", "delta_expired")


def test_the_backstop_interval_forces_a_full_reconciliation(world: World) -> None:
    world.select(world.group("Sales", world.user("Ann A"))["id"])
    world.sync()
    state = load_delta_state(world.engine, world.tenant_id)
    assert state is not None
    world.state.clock.advance(timedelta(hours=1))

    assert world.sync().kind == "delta"


def test_a_changed_selection_means_a_full_run(world: World) -> None:
    sales = world.group("Sales", world.user("Ann A"))
    ops = world.group("Ops", world.user("Bob B"))
    world.select(sales["id"])
    world.sync()
    world.select(sales["id"], ops["id"])

    outcome = world.sync()

    assert (outcome.kind, outcome.report["reason"]) == ("full", "selection_changed")
    assert len(users_by_email(world.engine, world.tenant_id)) == 2


def test_a_failed_delta_read_applies_nothing_and_keeps_the_link(world: World) -> None:
    ann = world.user("Ann A")
    sales = world.group("Sales", ann)
    world.select(sales["id"])
    world.sync()
    link = load_delta_state(world.engine, world.tenant_id)
    world.entra.remove_member(sales["id"], ann["id"])
    world.state.faults.unavailable(times=None, path=r"/users/delta$", retry_after=3600)

    outcome = world.sync()

    assert outcome.status == "failed"
    assert users_by_email(world.engine, world.tenant_id)[_mail(ann)].active
    assert load_delta_state(world.engine, world.tenant_id) == link
    world.state.faults.clear()
    assert world.sync().status == "succeeded"
    assert not users_by_email(world.engine, world.tenant_id)[_mail(ann)].active


def test_leaving_a_nested_group_keeps_a_user_still_in_the_tree_another_way(
    world: World,
) -> None:
    ann, bob = world.user("Ann A"), world.user("Bob B")
    deep = world.group("Deep", bob)
    inner = world.group("Inner", ann, bob, deep)
    sales = world.group("Sales", ann, inner)
    world.select(sales["id"])
    world.sync()
    before = world.state.requests.count(prefix="/v1.0/")
    world.entra.remove_member(inner["id"], ann["id"])  # still a direct member of Sales
    world.entra.remove_member(inner["id"], bob["id"])  # still in Deep, nested in Inner

    outcome = world.sync()

    assert outcome.kind == "delta"
    tags = user_tags(world.engine, world.tenant_id)
    assert tags[_mail(ann)] == {"Sales"}
    assert tags[_mail(bob)] == {"Sales"}
    # Decided from the stored direct members: only the delta links are read (one
    # users link, one groups link per level of nesting).
    assert world.state.requests.count(prefix="/v1.0/") - before == 4
    world.entra.remove_member(deep["id"], bob["id"])
    assert world.sync().kind == "delta"
    assert _mail(bob) not in user_tags(world.engine, world.tenant_id)
