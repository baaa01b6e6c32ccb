"""Property tests: flattening nested groups, and what a delta round does to the flattened
memberships, agree with a brute-force recomputation from the direct members."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sync.groups import GroupTree, groups_in_nesting, membership_changes, subtree

GROUPS = [f"g{i}" for i in range(6)]
USERS = [f"u{i}" for i in range(6)]

edges_strategy = st.dictionaries(
    st.sampled_from(GROUPS), st.lists(st.sampled_from(GROUPS), max_size=3, unique=True)
)
direct_strategy = st.sets(st.tuples(st.sampled_from(GROUPS), st.sampled_from(USERS)))


def flattened(edges: dict[str, list[str]], direct: set[tuple[str, str]], root: str) -> set[str]:
    reach = subtree(edges, root)
    return {u for g, u in direct if g in reach}


@given(edges=edges_strategy, direct=direct_strategy, root=st.sampled_from(GROUPS))
def test_transitive_users_are_the_users_of_every_reachable_group(
    edges: dict[str, list[str]], direct: set[tuple[str, str]], root: str
) -> None:
    tree = GroupTree(edges=edges)
    for group_id, user_id in sorted(direct):
        tree.users.setdefault(group_id, []).append(user_id)

    assert tree.transitive_users(root) == flattened(edges, direct, root)


@settings(max_examples=300)
@given(
    edges=edges_strategy,
    before=direct_strategy,
    joins=direct_strategy,
    leaves=direct_strategy,
    selected=st.sets(st.sampled_from(GROUPS), min_size=1),
)
def test_a_delta_round_moves_flattened_memberships_exactly(
    edges: dict[str, list[str]],
    before: set[tuple[str, str]],
    joins: set[tuple[str, str]],
    leaves: set[tuple[str, str]],
    selected: set[str],
) -> None:
    # A pair both joined and left ends up left (the last word of a round).
    joins -= leaves
    leaves &= before | joins
    after = (before | joins) - leaves
    # What the engine knows: the stored direct members of groups in nesting, and
    # this round's joins.
    stored = groups_in_nesting(edges, selected)
    direct_after: dict[str, set[str]] = {}
    for group_id, user_id in after:
        if group_id in stored or (group_id, user_id) in joins:
            direct_after.setdefault(user_id, set()).add(group_id)

    begin, end = membership_changes(edges, selected, direct_after, joins, leaves)

    for root in selected:
        old = flattened(edges, before, root)
        new = flattened(edges, after, root)
        applied = (old - {u for g, u in end if g == root}) | {u for g, u in begin if g == root}
        assert applied == new, root
