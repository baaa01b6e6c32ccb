"""A full sync: users of the selected groups (transitively) become synced users."""

from __future__ import annotations

from gateway.sync.engine import RunRequest
from gateway.sync.service import run_sync
from tests.store.apply_helpers import user_tags, users_by_email
from tests.sync.conftest import World


def test_members_of_selected_groups_are_synced_with_nested_groups_flattened(
    world: World,
) -> None:
    ann, bob, cai, dan = (world.user(n) for n in ("Ann A", "Bob B", "Cai C", "Dan D"))
    outsider = world.user("Out Sider")
    inner = world.group("Inner", cai)
    sales = world.group("Sales", ann, inner)
    ops = world.group("Ops", bob, sales)
    # A cycle and a device: both harmless.
    world.entra.add_member(inner["id"], ops["id"])
    device = world.entra.add_device("Laptop")
    world.entra.add_member(sales["id"], device["id"])
    world.group("Unselected", dan, outsider)
    world.select(sales["id"], ops["id"])

    outcome = world.sync()

    assert outcome.status == "succeeded", outcome.error
    assert outcome.kind == "full"
    assert outcome.report["reason"] == "first_run"
    stored = users_by_email(world.engine, world.tenant_id)
    assert set(stored) == {u["mail"].lower() for u in (ann, bob, cai)}
    assert all(u.active for u in stored.values())
    tags = user_tags(world.engine, world.tenant_id)
    # Inner is nested in Sales, Sales (and, by the cycle, Inner) in Ops.
    assert tags[ann["mail"].lower()] == {"Sales", "Ops"}
    assert tags[cai["mail"].lower()] == {"Sales", "Ops"}
    assert tags[bob["mail"].lower()] == {"Ops", "Sales"}
    assert outcome.report["graph_requests"] > 0
    assert outcome.counts["user_created"] == 3


def test_reads_ask_only_for_needed_properties_and_only_read(world: World) -> None:
    ann = world.user("Ann A")
    world.select(world.group("Sales", ann)["id"])

    world.sync()

    log = world.state.requests
    assert log.methods() <= {"GET", "POST"}
    assert log.count("POST", "/v1.0/") == log.count("POST", "/v1.0/$batch")
    assert log.count("POST", "/v1.0/$batch") >= 1


def test_users_without_mail_and_mismatched_usernames_are_reported(world: World) -> None:
    nomail = world.user("No Mail", mail=None)
    other = world.entra.create_user(
        "Other Name", user_principal_name=f"o@{world.entra.default_domain}", mail="x@contoso.com"
    )
    guest = world.user("Guest G", user_type="Guest")
    long_name = "A group name that is far too long to tag"
    world.select(world.group(long_name, nomail, other, guest)["id"])

    outcome = world.sync()

    codes = {w["code"] for w in outcome.warnings}
    assert {
        "no_primary_email",
        "sso_username_mismatch",
        "group_name_too_long",
        "guest_user",
    } <= codes
    mismatch = next(w for w in outcome.warnings if w["code"] == "sso_username_mismatch")
    assert "SSO will fail" in mismatch["message"]
    assert outcome.counts["users_skipped"] == 1


def test_a_deleted_selected_group_is_reported_and_removed(world: World) -> None:
    ann = world.user("Ann A")
    sales = world.group("Sales", ann)
    gone = world.group("Gone", ann)
    world.select(sales["id"], gone["id"])
    assert world.sync().status == "succeeded"
    world.entra.delete_group(gone["id"])

    outcome = world.sync(force_full=True)

    assert outcome.status == "succeeded", outcome.error
    assert "group_not_found" in {w["code"] for w in outcome.warnings}
    assert user_tags(world.engine, world.tenant_id)[ann["mail"].lower()] == {"Sales"}


def test_a_failed_page_adds_and_updates_but_removes_nothing(world: World) -> None:
    members = [world.user(f"User {i}") for i in range(5)]
    sales = world.group("Sales", *members)
    world.select(sales["id"])
    assert world.sync().status == "succeeded"
    world.entra.remove_member(sales["id"], members[0]["id"])
    newcomer = world.user("New Comer")
    world.entra.add_member(sales["id"], newcomer["id"])
    world.state.faults.fail_page(1, path=r"^/v1\.0/users$", times=None)

    outcome = world.sync(force_full=True)

    assert outcome.status == "partial", outcome.error
    assert "read_failed" in {w["code"] for w in outcome.warnings}
    stored = users_by_email(world.engine, world.tenant_id)
    # Nothing deactivated on a partial read; the membership removal waits too.
    assert all(u.active for u in stored.values())
    assert members[0]["mail"].lower() in user_tags(world.engine, world.tenant_id)


def test_throttling_is_retried_and_reported(world: World) -> None:
    ann = world.user("Ann A")
    world.select(world.group("Sales", ann)["id"])
    world.state.faults.throttle(times=2, retry_after=1, path=r"^/v1\.0/users$")

    outcome = world.sync()

    assert outcome.status == "succeeded", outcome.error
    assert outcome.report["graph_retries"] >= 2
    assert outcome.report["graph_throttled"] >= 2


def test_a_token_expiring_mid_run_is_renewed(world: World) -> None:
    members = [world.user(f"User {i}") for i in range(3)]
    world.select(world.group("Sales", *members)["id"])
    advanced: list[str] = []

    def expire_tokens(stage: str, _count: int) -> None:
        if stage == "groups" and not advanced:
            advanced.append(stage)
            world.state.clock.advance(hours=3)

    outcome = run_sync(world.services, RunRequest(world.tenant_id), progress=expire_tokens)

    assert outcome.status == "succeeded", outcome.error
    assert outcome.report["token_refreshes"] == 1
    assert len(users_by_email(world.engine, world.tenant_id)) == 3
