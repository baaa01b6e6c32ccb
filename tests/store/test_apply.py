"""The identity rules as the apply engine enforces them, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from gateway.identity.model import Source, SourceUser, WarningCode
from gateway.identity.rules import ENTRA_TEAM_NAME
from gateway.store import source_index
from gateway.store.apply import ApplyStatus, StaleSnapshotError, apply_changes, sync_batch
from gateway.store.teams import add_member, create_team, remove_member
from tests.store.apply_helpers import (
    changed,
    group,
    new_tenant,
    person,
    snapshot,
    tags,
    team_members,
    user_count,
    user_tags,
    users_by_email,
)

SALES = "Sales"
LONG_NAME = "Engineering Platform Reliability"  # 32 characters: no tag


def test_first_snapshot_creates_users_team_membership_and_tags(engine: Engine) -> None:
    tenant = new_tenant(engine)
    result = snapshot(
        engine,
        tenant,
        [person(1), person(2), person(3)],
        [group("g1", SALES, [1, 2]), group("g2", LONG_NAME, [3])],
    )

    assert result.status is ApplyStatus.APPLIED
    assert changed(result) == {
        "user_created": 3,
        "group_created": 2,
        "tag_created": 1,
        "group_membership_added": 3,
        "team_membership_added": 3,
    }
    users = users_by_email(engine, tenant)
    assert set(users) == {"user1@contoso.com", "user2@contoso.com", "user3@contoso.com"}
    assert all(u.active for u in users.values())
    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == {
        (f"user{n}@contoso.com", "graph") for n in (1, 2, 3)
    }
    assert user_tags(engine, tenant) == {
        "user1@contoso.com": {SALES},
        "user2@contoso.com": {SALES},
    }
    [warning] = result.warnings
    assert warning.code is WarningCode.GROUP_NAME_TOO_LONG
    assert warning.subject == LONG_NAME


def test_applying_the_same_snapshot_twice_changes_nothing(engine: Engine) -> None:
    tenant = new_tenant(engine)
    state = ([person(1), person(2)], [group("g1", SALES, [1, 2])])
    snapshot(engine, tenant, *state)

    again = snapshot(engine, tenant, *state, collect_changes=True)

    assert changed(again) == {}
    assert again.changes == []


def test_primary_email_is_the_key_compared_case_insensitively(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1, email="  Ann.Lee@Contoso.com ")])

    # The same object id with a differently cased address is the same user.
    result = snapshot(engine, tenant, [person(1, email="ann.lee@contoso.com")])

    assert user_count(engine, tenant) == 1
    assert changed(result) == {"user_updated": 1}
    assert users_by_email(engine, tenant)["ann.lee@contoso.com"].email_key == "ann.lee@contoso.com"


def test_user_without_primary_email_is_not_synced_and_reported(engine: Engine) -> None:
    tenant = new_tenant(engine)
    nameless = SourceUser("oid-9", None, "nomail@contoso.com", "No Mail", True, "oid-9")

    result = snapshot(engine, tenant, [nameless, person(1)])

    assert user_count(engine, tenant) == 1
    assert result.counts["users_skipped"] == 1
    assert [w.code for w in result.warnings] == [WarningCode.NO_PRIMARY_EMAIL]
    assert "nomail@contoso.com" in result.warnings[0].subject


def test_username_differing_from_primary_email_is_synced_with_a_warning(engine: Engine) -> None:
    tenant = new_tenant(engine)

    result = snapshot(engine, tenant, [person(1, user_name="bob@contoso.onmicrosoft.com")])

    assert users_by_email(engine, tenant)["user1@contoso.com"].active
    [warning] = result.warnings
    assert warning.code is WarningCode.SSO_USERNAME_MISMATCH
    assert "SSO will fail" in warning.message
    assert warning.detail == {
        "user_name": "bob@contoso.onmicrosoft.com",
        "primary_email": "user1@contoso.com",
    }


def test_primary_email_change_on_a_known_object_id_updates_the_same_user(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])
    before = users_by_email(engine, tenant)["user1@contoso.com"]

    snapshot(engine, tenant, [person(1, email="renamed@contoso.com")])

    after = users_by_email(engine, tenant)
    assert set(after) == {"renamed@contoso.com"}
    assert after["renamed@contoso.com"].id == before.id


def test_two_users_may_swap_primary_emails_in_one_snapshot(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1, email="a@contoso.com"), person(2, email="b@contoso.com")])
    ids = {e: u.id for e, u in users_by_email(engine, tenant).items()}

    snapshot(engine, tenant, [person(1, email="b@contoso.com"), person(2, email="a@contoso.com")])

    after = users_by_email(engine, tenant)
    assert after["a@contoso.com"].id == ids["b@contoso.com"]
    assert after["b@contoso.com"].id == ids["a@contoso.com"]


def test_duplicate_primary_email_in_one_batch_syncs_only_the_first(engine: Engine) -> None:
    tenant = new_tenant(engine)

    result = snapshot(
        engine, tenant, [person(1, email="x@contoso.com"), person(2, email="X@contoso.com")]
    )

    assert users_by_email(engine, tenant)["x@contoso.com"].entra_object_id == "oid-1"
    assert [w.code for w in result.warnings] == [WarningCode.DUPLICATE_PRIMARY_EMAIL]


def test_address_of_an_active_user_is_never_taken_by_another(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1, email="x@contoso.com")], source=Source.SCIM)

    # Graph brings a different Entra object with the address the SCIM user holds.
    scim_holder = users_by_email(engine, tenant)["x@contoso.com"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET entra_object_id = 'other' WHERE id = :id"),
            {"id": scim_holder.id},
        )
    result = snapshot(engine, tenant, [person(2, email="x@contoso.com")])

    assert user_count(engine, tenant) == 1
    assert [w.code for w in result.warnings] == [WarningCode.PRIMARY_EMAIL_TAKEN]
    assert users_by_email(engine, tenant)["x@contoso.com"].entra_object_id == "other"


def test_address_of_a_deactivated_user_is_released_to_a_new_one(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1, email="x@contoso.com")])

    # oid-1 left; a new employee (oid-2) gets the recycled address in the same run.
    result = snapshot(engine, tenant, [person(2, email="x@contoso.com")])

    assert changed(result)["user_created"] == 1
    assert changed(result)["user_email_released"] == 1
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT entra_object_id, email_key, active FROM users"
                " WHERE tenant_id = :t ORDER BY id"
            ),
            {"t": tenant},
        ).all()
    assert [tuple(r) for r in rows] == [("oid-1", None, False), ("oid-2", "x@contoso.com", True)]


def test_user_known_by_email_is_joined_by_object_id_not_duplicated(engine: Engine) -> None:
    tenant = new_tenant(engine)
    # SCIM pushed the user without an object id first.
    scim_user = SourceUser("scim-1", "ann@contoso.com", "ann@contoso.com", "Ann", True, None)
    snapshot(engine, tenant, [scim_user], source=Source.SCIM)

    snapshot(engine, tenant, [person("a", email="ann@contoso.com")])

    [ann] = users_by_email(engine, tenant).values()
    assert ann.entra_object_id == "oid-a"
    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == {
        ("ann@contoso.com", "graph"),
        ("ann@contoso.com", "scim"),
    }


def test_removal_from_every_synced_group_deactivates_but_keeps_the_record(
    engine: Engine,
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1, 2])])
    ops = create_team(engine, tenant, "Ops", actor="admin")
    user2 = users_by_email(engine, tenant)["user2@contoso.com"]
    add_member(engine, tenant, ops.id, user2.id, actor="admin")

    # The Graph sync only brings members of selected groups: user 2 is gone.
    result = snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])])

    assert changed(result) == {
        "user_source_removed": 1,
        "user_deactivated": 1,
        "group_membership_removed": 1,
        "team_membership_removed": 1,
    }
    after = users_by_email(engine, tenant)["user2@contoso.com"]
    assert after.id == user2.id
    assert not after.active
    assert team_members(engine, tenant, "Ops") == {("user2@contoso.com", "manual")}
    assert "user2@contoso.com" not in user_tags(engine, tenant)


def test_disabled_account_is_deactivated_and_restored_exactly_on_enable(engine: Engine) -> None:
    tenant = new_tenant(engine)
    groups = [group("g1", SALES, [1, 2]), group("g2", "Admins", [2])]
    snapshot(engine, tenant, [person(1), person(2)], groups)
    tags_before = user_tags(engine, tenant)

    disabled = snapshot(engine, tenant, [person(1), person(2, enabled=False)], groups)

    assert changed(disabled) == {"user_deactivated": 1, "team_membership_removed": 1}
    assert not users_by_email(engine, tenant)["user2@contoso.com"].active
    assert "user2@contoso.com" not in user_tags(engine, tenant)

    enabled = snapshot(engine, tenant, [person(1), person(2)], groups)

    assert changed(enabled) == {"user_reactivated": 1, "team_membership_added": 1}
    assert user_tags(engine, tenant) == tags_before


def test_partial_read_adds_and_updates_but_removes_nothing(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1, 2])])

    # A page failed: user 2 and its membership are missing from what was read.
    result = snapshot(
        engine,
        tenant,
        [person(1, name="Renamed"), person(3)],
        [group("g1", SALES, [1, 3])],
        complete=False,
    )

    assert changed(result) == {
        "user_updated": 1,
        "user_created": 1,
        "group_membership_added": 1,
        "team_membership_added": 1,
    }
    assert users_by_email(engine, tenant)["user2@contoso.com"].active
    assert user_tags(engine, tenant)["user2@contoso.com"] == {SALES}


def test_partial_read_still_applies_an_explicit_disable(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)])

    snapshot(engine, tenant, [person(2, enabled=False)], complete=False)

    users = users_by_email(engine, tenant)
    assert users["user1@contoso.com"].active
    assert not users["user2@contoso.com"].active


def test_unusual_share_of_deactivations_waits_for_confirmation(engine: Engine) -> None:
    tenant = new_tenant(engine)
    everyone = [person(n) for n in range(40)]
    snapshot(engine, tenant, everyone, [group("g1", SALES, range(40))])

    # 12 of 40 leave (30% > 10%, and at least 10 users): stop, change nothing.
    remaining = everyone[12:]
    stopped = snapshot(engine, tenant, remaining, [group("g1", SALES, range(12, 40))])

    assert stopped.status is ApplyStatus.NEEDS_CONFIRMATION
    assert stopped.deactivating == 12
    assert sum(u.active for u in users_by_email(engine, tenant).values()) == 40

    confirmed = snapshot(
        engine,
        tenant,
        remaining,
        [group("g1", SALES, range(12, 40))],
        confirm_deactivations=True,
    )

    assert confirmed.status is ApplyStatus.APPLIED
    assert sum(u.active for u in users_by_email(engine, tenant).values()) == 28


def test_few_deactivations_below_the_minimum_need_no_confirmation(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(n) for n in range(5)])

    # 3 of 5 is 60%, but fewer than 10 users: a small tenant is not stopped.
    result = snapshot(engine, tenant, [person(n) for n in range(2)])

    assert result.status is ApplyStatus.APPLIED
    assert result.counts["user_deactivated"] == 3


def test_dry_run_returns_the_exact_change_set_and_changes_nothing(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1, 2])])

    preview = snapshot(
        engine,
        tenant,
        [person(1), person(3)],
        [group("g1", "Sales EMEA", [1, 3])],
        dry_run=True,
    )

    assert preview.status is ApplyStatus.DRY_RUN
    actions = sorted(c.action for c in preview.changes)
    assert actions == sorted(
        [
            "user.source_removed",
            "user.deactivated",
            "user.created",
            "group.renamed",
            "tag.renamed",
            "group_membership.removed",
            "group_membership.added",
            "team_membership.added",
            "team_membership.removed",
        ]
    )
    assert set(users_by_email(engine, tenant)) == {"user1@contoso.com", "user2@contoso.com"}
    assert set(tags(engine, tenant)) == {SALES}

    real = snapshot(engine, tenant, [person(1), person(3)], [group("g1", "Sales EMEA", [1, 3])])
    assert real.counts == preview.counts


def test_renamed_group_renames_its_tag_and_keeps_the_tag_id(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])])
    tag_id = tags(engine, tenant)[SALES]

    result = snapshot(engine, tenant, [person(1)], [group("g1", "Sales EMEA", [1])])

    assert changed(result) == {"group_renamed": 1, "tag_renamed": 1}
    assert tags(engine, tenant) == {"Sales EMEA": tag_id}
    assert user_tags(engine, tenant) == {"user1@contoso.com": {"Sales EMEA"}}


def test_group_renamed_beyond_29_characters_loses_its_tag(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])])

    result = snapshot(engine, tenant, [person(1)], [group("g1", LONG_NAME, [1])])

    assert changed(result) == {"group_renamed": 1, "tag_removed": 1}
    assert tags(engine, tenant) == {}
    assert [w.code for w in result.warnings] == [WarningCode.GROUP_NAME_TOO_LONG]


def test_a_29_character_name_is_a_tag_and_30_is_not(engine: Engine) -> None:
    tenant = new_tenant(engine)
    fits, too_long = "x" * 29, "y" * 30

    snapshot(engine, tenant, [person(1)], [group("g1", fits, [1]), group("g2", too_long, [1])])

    assert set(tags(engine, tenant)) == {fits}


def test_groups_with_the_same_name_share_one_tag_and_are_reported(engine: Engine) -> None:
    tenant = new_tenant(engine)

    result = snapshot(
        engine, tenant, [person(1), person(2)], [group("g1", SALES, [1]), group("g2", "sales", [2])]
    )

    assert len(tags(engine, tenant)) == 1
    assert [w.code for w in result.warnings] == [WarningCode.DUPLICATE_GROUP_NAME]
    assert {k: {t.lower() for t in v} for k, v in user_tags(engine, tenant).items()} == {
        "user1@contoso.com": {"sales"},
        "user2@contoso.com": {"sales"},
    }


def test_removed_group_takes_its_tag_and_memberships_with_it(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1]), group("g2", "Ops", [1])])

    result = snapshot(engine, tenant, [person(1)], [group("g2", "Ops", [1])])

    assert changed(result) == {
        "group_removed": 1,
        "tag_removed": 1,
        "group_membership_removed": 1,
    }
    assert set(tags(engine, tenant)) == {"Ops"}


def test_manual_removal_from_the_entra_team_is_undone_by_the_next_sync(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])
    [user] = users_by_email(engine, tenant).values()
    team_id = _team_id(engine, tenant, ENTRA_TEAM_NAME)
    remove_member(engine, tenant, team_id, user.id, actor="admin")
    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == set()

    result = snapshot(engine, tenant, [person(1)])

    assert changed(result) == {"team_membership_added": 1}
    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == {("user1@contoso.com", "graph")}


def test_manual_memberships_survive_sync_and_deactivation(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])
    [user] = users_by_email(engine, tenant).values()
    entra_team = _team_id(engine, tenant, ENTRA_TEAM_NAME)
    add_member(engine, tenant, entra_team, user.id, actor="admin")

    snapshot(engine, tenant, [])

    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == {("user1@contoso.com", "manual")}


def test_one_source_never_removes_what_another_owns(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])], source=Source.GRAPH)
    snapshot(engine, tenant, [person(1)], [group("s1", "Pushed", [1])], source=Source.SCIM)

    # Graph no longer has the user; SCIM still does, so the user stays active.
    result = snapshot(engine, tenant, [], [group("g1", SALES, [])], source=Source.GRAPH)

    assert result.counts["user_deactivated"] == 0
    assert users_by_email(engine, tenant)["user1@contoso.com"].active
    assert team_members(engine, tenant, ENTRA_TEAM_NAME) == {("user1@contoso.com", "scim")}
    assert user_tags(engine, tenant) == {"user1@contoso.com": {"Pushed"}}


def test_tenants_never_see_each_others_users(engine: Engine) -> None:
    first, second = new_tenant(engine, "A"), new_tenant(engine, "B")
    snapshot(engine, first, [person(1), person(2)], [group("g1", SALES, [1, 2])])

    # The same Entra ids and addresses in another tenant are other users.
    snapshot(engine, second, [person(1)], [group("g1", SALES, [1])])

    assert user_count(engine, first) == 2
    assert user_count(engine, second) == 1
    assert all(u.active for u in users_by_email(engine, first).values())
    assert user_tags(engine, first) == {
        "user1@contoso.com": {SALES},
        "user2@contoso.com": {SALES},
    }


def test_change_batch_applies_named_changes_only(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1])])

    result = apply_changes(
        engine,
        tenant,
        Source.GRAPH,
        users=[person(3)],
        removed_users=["oid-2"],
        added_members=[("g1", "oid-3")],
        removed_members=[("g1", "oid-1")],
    )

    assert changed(result) == {
        "user_created": 1,
        "user_source_removed": 1,
        "user_deactivated": 1,
        "group_membership_added": 1,
        "group_membership_removed": 1,
        "team_membership_added": 1,
        "team_membership_removed": 1,
    }
    assert user_tags(engine, tenant) == {"user3@contoso.com": {SALES}}
    assert users_by_email(engine, tenant)["user1@contoso.com"].active


def test_change_batch_member_adds_and_removes_are_idempotent(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1])])

    for _ in range(2):
        apply_changes(
            engine,
            tenant,
            Source.GRAPH,
            added_members=[("g1", "oid-1"), ("g1", "oid-2")],
            removed_members=[("g1", "oid-404")],
        )

    assert user_tags(engine, tenant) == {
        "user1@contoso.com": {SALES},
        "user2@contoso.com": {SALES},
    }


def test_group_with_complete_members_in_a_change_batch_replaces_its_members(
    engine: Engine,
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1])])

    apply_changes(
        engine, tenant, Source.GRAPH, groups=[group("g1", SALES, [2])], groups_members_complete=True
    )

    assert user_tags(engine, tenant) == {"user2@contoso.com": {SALES}}


def test_audit_records_memberships_and_activation_with_before_and_after(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])])

    snapshot(engine, tenant, [person(1, enabled=False)], [group("g1", SALES, [1])])

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor, action, before, after FROM audit_log"
                " WHERE tenant_id = :t AND action = 'user.deactivated'"
            ),
            {"t": tenant},
        ).all()
    [(actor, _, before, after)] = rows
    assert actor == "sync:graph"
    assert _json(before) == {"active": True}
    assert _json(after) == {"active": False}


def _json(value: object) -> object:
    import json

    return json.loads(value) if isinstance(value, str) else value


def _team_id(engine: Engine, tenant_id: str, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM teams WHERE tenant_id = :t AND name = :n"),
                {"t": tenant_id, "n": name},
            ).scalar_one()
        )


def test_synced_user_whose_address_goes_missing_is_left_as_it_is(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1), person(2)], [group("g1", SALES, [1, 2])])
    blank = SourceUser("oid-2", " ", "user2@contoso.com", "User 2", True, "oid-2")

    result = snapshot(engine, tenant, [person(1), blank], [group("g1", SALES, [1, 2])])

    assert changed(result) == {"users_skipped": 1}
    assert users_by_email(engine, tenant)["user2@contoso.com"].active
    assert [w.code for w in result.warnings] == [WarningCode.NO_PRIMARY_EMAIL]


def test_existing_holder_keeps_its_address_when_a_newcomer_is_staged_first(
    engine: Engine,
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1, email="x@contoso.com")])

    result = snapshot(
        engine, tenant, [person(2, email="x@contoso.com"), person(1, email="x@contoso.com")]
    )

    [holder] = users_by_email(engine, tenant).values()
    assert holder.entra_object_id == "oid-1"
    assert holder.active
    assert {w.code for w in result.warnings} == {
        WarningCode.DUPLICATE_PRIMARY_EMAIL,
        WarningCode.PRIMARY_EMAIL_TAKEN,
    }


def test_disable_applies_even_when_the_address_is_unusable(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])
    disabled_blank = SourceUser("oid-1", None, "user1@contoso.com", "User 1", False, "oid-1")

    result = snapshot(engine, tenant, [disabled_blank])

    assert result.counts["user_deactivated"] == 1
    assert not users_by_email(engine, tenant)["user1@contoso.com"].active


def test_user_restored_after_an_unusable_disabled_record_is_enabled_again(
    engine: Engine,
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])
    snapshot(engine, tenant, [SourceUser("oid-1", None, "user1@contoso.com", "U", False, "oid-1")])

    # The very record that was applied before comes back: it must be applied again.
    result = snapshot(engine, tenant, [person(1)])

    assert result.counts["user_reactivated"] == 1
    assert users_by_email(engine, tenant)["user1@contoso.com"].active


def test_snapshot_is_refused_when_the_source_was_applied_while_it_was_staged(
    engine: Engine,
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)])

    with sync_batch(engine, tenant, Source.GRAPH, snapshot=True) as batch:
        batch.add_users([person(1), person(2)])
        apply_changes(engine, tenant, Source.GRAPH, removed_users=["oid-1"])
        with pytest.raises(StaleSnapshotError, match="run the sync again"):
            batch.apply()

    assert set(users_by_email(engine, tenant)) == {"user1@contoso.com"}


def test_a_snapshot_names_whole_groups_not_member_changes(engine: Engine) -> None:
    tenant = new_tenant(engine)
    with (
        sync_batch(engine, tenant, Source.GRAPH, snapshot=True) as batch,
        pytest.raises(TypeError, match="change batches"),
    ):
        batch.add_members([("g1", "oid-1")])


def test_snapshot_reads_the_store_at_one_point_in_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person(1)], [group("g1", SALES, [1])])
    read = source_index._RawReader.all
    interleaved: list[str] = []

    def read_then_apply_elsewhere(self: source_index._RawReader, sql: str) -> list[object]:
        rows = read(self, sql)
        if "FROM user_sources" in sql and not interleaved:
            # Another apply commits between the snapshot's read of the links
            # and its read of the memberships: user 1 leaves, user 2 joins g1.
            interleaved.append(sql)
            snapshot(engine, tenant, [person(2)], [group("g1", SALES, [2])])
        return rows

    monkeypatch.setattr(source_index._RawReader, "all", read_then_apply_elsewhere)
    with sync_batch(engine, tenant, Source.GRAPH, snapshot=True) as batch:
        batch.add_users([person(1)])
        # Diffing g1 against memberships newer than the links raised KeyError.
        batch.add_groups([group("g1", SALES, [1])])
        with pytest.raises(StaleSnapshotError, match="run the sync again"):
            batch.apply()

    assert interleaved
    assert user_tags(engine, tenant) == {"user2@contoso.com": {SALES}}


def test_a_member_without_a_link_is_reported_not_a_key_error() -> None:
    index = source_index.StoredIndex(generation=1, user_ids={"oid-1": 1}, members={7: {1, 2}})

    with pytest.raises(source_index.InconsistentIndexError, match=r"group 7 .*user ids \[2\]"):
        index.member_changes(7, ["oid-1"])
    consistent = source_index.StoredIndex(
        generation=1, user_ids={"oid-1": 1, "oid-2": 2}, members={7: {1, 2}}
    )
    assert consistent.member_changes(7, ["oid-1", "oid-3"]) == (["oid-3"], ["oid-2"])


def test_members_who_leave_the_source_leave_every_group(engine: Engine) -> None:
    tenant = new_tenant(engine)
    snapshot(
        engine,
        tenant,
        [person(1), person(2)],
        [group("g1", SALES, [1, 2]), group("g2", "Ops", [1, 2])],
    )
    with engine.begin() as conn:
        # Statistics like those the applies keep current: SQLite then removes
        # memberships through the (user_id, group_id) index.
        conn.exec_driver_sql("ANALYZE")

    result = snapshot(
        engine,
        tenant,
        [],
        [group("g1", SALES, []), group("g2", "Ops", [])],
        confirm_deactivations=True,
    )

    assert result.counts["group_membership_removed"] == 4
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT group_id, user_id FROM group_memberships WHERE tenant_id = :t"),
            {"t": tenant},
        ).all()
    assert left == []
    # The next snapshot diffs the groups against the store without tripping.
    assert snapshot(engine, tenant, [], [group("g1", SALES, [])]).status is ApplyStatus.APPLIED
