"""The large-tenant generator (run small here) and its ~1% mutation, seen through delta."""

from __future__ import annotations

from tests.fakes.entra import EntraState, create_app
from tests.fakes.entra.client import FakeClient
from tests.fakes.entra.generator import build_tenant, mutate


def test_generated_tenant_has_every_shape_the_sync_must_handle() -> None:
    state = EntraState(seed=1)
    generated = build_tenant(state, users=3000, groups=100, seed=5)
    tenant = generated.tenant
    assert len(tenant.users) == 3000
    assert len(tenant.groups) == 100
    users_in_groups = {
        member
        for gid in generated.group_ids
        for member in tenant.transitive_members(gid)
        if tenant.types[member] == "user"
    }
    assert len(users_in_groups) >= 0.9 * 3000
    assert 1.9 * 3000 <= generated.memberships <= 2.3 * 3000
    assert generated.long_names
    assert all(len(name) > 29 for name in generated.long_names)
    names = [g["displayName"] for g in tenant.groups.values()]
    assert all(names.count(name) >= 2 for name in generated.duplicate_names)
    assert generated.guests > 0
    assert generated.without_mail > 0
    assert generated.upn_differs > generated.guests
    # Nested groups include a cycle: some group reaches itself.
    nested = [gid for gid in generated.group_ids if tenant.members[gid].get(gid) is None]
    assert any(
        gid in tenant.transitive_members(member)
        for gid in nested
        for member, kind in tenant.members[gid].items()
        if kind == "group"
    )
    kinds = {tenant.types[m] for gid in generated.group_ids for m in tenant.members[gid]}
    assert kinds == {"user", "group", "device", "servicePrincipal"}


def test_generation_is_deterministic_for_a_seed() -> None:
    first = build_tenant(EntraState(), users=200, groups=20, seed=9)
    second = build_tenant(EntraState(), users=200, groups=20, seed=9)
    other = build_tenant(EntraState(), users=200, groups=20, seed=10)
    assert first.tenant.id == second.tenant.id
    assert sorted(first.tenant.users) == sorted(second.tenant.users)
    assert first.tenant.members == second.tenant.members
    assert sorted(first.tenant.users) != sorted(other.tenant.users)


def test_mutation_changes_about_one_percent_and_delta_reports_exactly_that() -> None:
    state = EntraState(seed=2)
    generated = build_tenant(state, users=4000, groups=60, seed=3)
    tenant = generated.tenant
    client = FakeClient(create_app(state))
    client.sign_in(tenant, generated.app)
    _, users_last = client.collect("/v1.0/users/delta?$select=displayName,accountEnabled,mail")
    _, groups_last = client.collect("/v1.0/groups/delta?$select=displayName,members")
    change = mutate(tenant, share=0.01, seed=4)
    # 1% of 4000 users: renamed, disabled, deleted or moved to another group.
    touched = [*change.renamed, *change.disabled, *change.deleted, *(m[0] for m in change.moved)]
    assert len(set(touched)) == 40
    assert change.moved
    assert len(change.added) == len(change.deleted)
    users, _ = client.collect(users_last["@odata.deltaLink"])
    expected = {*change.renamed, *change.disabled, *change.deleted, *change.added}
    assert {u["id"] for u in users} == expected
    removed = {u["id"] for u in users if "@removed" in u}
    assert removed == set(change.deleted)
    groups, _ = client.collect(groups_last["@odata.deltaLink"])
    added_edges = {
        (g["id"], m["id"])
        for g in groups
        for m in g.get("members@delta", [])
        if "@removed" not in m
    }
    for user_id, _source, target in change.moved:
        assert (target, user_id) in added_edges
    assert {g["id"] for g in groups if "displayName" in g} >= set(change.renamed_groups)
