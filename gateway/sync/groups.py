"""Reading the selected groups and every group nested in them, level by level.

Before a level's members are read, a ``$deltatoken=latest`` link is taken
for its groups, so every change after the read is seen by the next delta run
(a change that falls between link and read is seen twice, which applying
idempotently absorbs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gateway.graph.client import GraphClient
from gateway.graph.errors import GraphError, NotFoundError
from gateway.graph.reads import (
    DELTA_FILTER_IDS,
    Members,
    groups_and_first_members,
    groups_delta_url,
    latest_delta_link,
    rest_of_members,
)

# Groups whose members are paged through at once (one connection each).
READ_WORKERS = 4


@dataclass(slots=True)
class GroupTree:
    """What was read of the selected groups and the groups nested in them."""

    names: dict[str, str] = field(default_factory=dict)
    users: dict[str, list[str]] = field(default_factory=dict)
    edges: dict[str, list[str]] = field(default_factory=dict)
    not_found: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    delta_links: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed

    def transitive_users(self, group_id: str) -> set[str]:
        """Users of a group and of every group nested in it (cycles are fine)."""
        seen: set[str] = set()
        found: set[str] = set()
        stack = [group_id]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            found.update(self.users.get(current, ()))
            stack.extend(self.edges.get(current, ()))
        return found


def read_group_tree(
    client: GraphClient,
    selected: Sequence[str],
    *,
    with_delta_links: bool = True,
    check: Callable[[], None] = lambda: None,
) -> GroupTree:
    """Read ``selected`` and, level by level, their nested groups (each once)."""
    tree = GroupTree()
    level = list(dict.fromkeys(selected))
    seen = set(level)
    selected_set = set(level)
    while level:
        check()
        if with_delta_links:
            tree.delta_links.extend(_latest_links(client, level))
        children = _read_level(client, level, tree, selected_set)
        level = [c for c in children if c not in seen]
        seen.update(level)
    return tree


def _latest_links(client: GraphClient, group_ids: Sequence[str]) -> list[dict[str, Any]]:
    links = []
    for start in range(0, len(group_ids), DELTA_FILTER_IDS):
        ids = list(group_ids[start : start + DELTA_FILTER_IDS])
        links.append({"ids": ids, "link": latest_delta_link(client, groups_delta_url(ids))})
    return links


def _read_level(
    client: GraphClient, level: Sequence[str], tree: GroupTree, selected: set[str]
) -> list[str]:
    firsts = groups_and_first_members(client, level)
    to_page: list[tuple[str, dict[str, Any]]] = []
    for group_id, (info, first) in firsts.items():
        if isinstance(info, NotFoundError):
            if group_id in selected:
                tree.not_found.add(group_id)
            continue
        if isinstance(info, GraphError):
            tree.failed[group_id] = str(info)
            continue
        tree.names[group_id] = str(info.get("displayName") or "")
        if isinstance(first, GraphError):
            tree.failed[group_id] = str(first)
            continue
        to_page.append((group_id, first))

    def read(item: tuple[str, dict[str, Any]]) -> tuple[str, Members | GraphError]:
        group_id, first = item
        members = Members()
        try:
            rest_of_members(client, first, members)
        except GraphError as exc:
            return group_id, exc
        return group_id, members

    children: list[str] = []
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        for group_id, outcome in pool.map(read, to_page):
            if isinstance(outcome, GraphError):
                tree.failed[group_id] = str(outcome)
                continue
            tree.users[group_id] = outcome.users
            tree.edges[group_id] = outcome.groups
            children.extend(outcome.groups)
    return list(dict.fromkeys(children))


def subtree(edges: dict[str, list[str]], group_id: str) -> set[str]:
    """A group and every group nested in it, per the stored edges."""
    seen: set[str] = set()
    stack = [group_id]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edges.get(current, ()))
    return seen


def selected_ancestors(edges: dict[str, list[str]], selected: Iterable[str]) -> dict[str, set[str]]:
    """For every group read, the selected groups it is (or is nested in)."""
    result: dict[str, set[str]] = {}
    for root in selected:
        for group_id in subtree(edges, root):
            result.setdefault(group_id, set()).add(root)
    return result


def groups_in_nesting(edges: dict[str, list[str]], selected: Iterable[str]) -> set[str]:
    """Groups in the tree of a selected group that has nested groups: only for them
    do the direct members decide anything (a lone group's removals are final)."""
    found: set[str] = set()
    for root in selected:
        tree = subtree(edges, root)
        if len(tree) > 1:
            found |= tree
    return found


def membership_changes(
    edges: dict[str, list[str]],
    selected: Iterable[str],
    direct_after: dict[str, set[str]],
    added: Iterable[tuple[str, str]],
    removed: Iterable[tuple[str, str]],
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(selected group, user) pairs that begin and end when users join (``added``)
    or leave (``removed``) groups of the tree, as (group, user) pairs.

    ``direct_after`` holds, for every user in ``removed``, the groups it is a
    direct member of once the change is applied (those of :func:`groups_in_nesting`
    suffice). A user who leaves a nested group stays in a selected group it still
    reaches another way.
    """
    ancestors = selected_ancestors(edges, selected)
    begin = {(root, u) for g, u in added for root in ancestors.get(g, ())}
    end = {
        (root, u)
        for g, u in removed
        for root in ancestors.get(g, ())
        if not subtree(edges, root) & direct_after.get(u, set())
    }
    return begin, end
