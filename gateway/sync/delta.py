"""Reading one delta round of the tracked groups and of the users, merged by id.

``members@delta`` of one group may be split across pages (and across items
of the same group); the merge keeps the last word per member, so replaying a
round is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.graph.client import GraphClient
from gateway.graph.errors import GraphError
from gateway.graph.reads import GROUP_TYPE, USER_TYPE, delta_pages


class NestingChanged(Exception):
    """A group was added to or removed from a tracked group: re-read the tree."""


@dataclass(slots=True)
class GroupChange:
    name: str | None = None
    removed: bool = False
    # member id -> True (added) / False (removed); the last word wins.
    users: dict[str, bool] = field(default_factory=dict)

    @property
    def added_users(self) -> list[str]:
        return [u for u, present in self.users.items() if present]

    @property
    def removed_users(self) -> list[str]:
        return [u for u, present in self.users.items() if not present]


@dataclass(slots=True)
class DeltaRead:
    groups: dict[str, GroupChange] = field(default_factory=dict)
    group_links: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_users: set[str] = field(default_factory=set)
    users_link: str = ""


def read_delta(
    client: GraphClient,
    group_links: list[dict[str, Any]],
    users_link: str,
    *,
    check: Callable[[], None] = lambda: None,
) -> DeltaRead:
    """Follow every stored delta link to its next delta link."""
    read = DeltaRead()
    for entry in group_links:
        link = str(entry["link"])
        for page in delta_pages(client, link):
            check()
            for item in page.get("value", []):
                _merge_group(read, item)
            link = str(page.get("@odata.deltaLink") or link)
        read.group_links.append({"ids": list(entry["ids"]), "link": link})
    link = users_link
    for page in delta_pages(client, users_link):
        check()
        for item in page.get("value", []):
            user_id = str(item["id"])
            if "@removed" in item:
                read.removed_users.add(user_id)
                read.users.pop(user_id, None)
            else:
                read.removed_users.discard(user_id)
                read.users[user_id] = {**read.users.get(user_id, {}), **item}
        link = str(page.get("@odata.deltaLink") or link)
    if not link:
        raise GraphError("Microsoft Graph ended the users delta round without a delta link.")
    read.users_link = link
    return read


def _merge_group(read: DeltaRead, item: dict[str, Any]) -> None:
    group_id = str(item["id"])
    change = read.groups.setdefault(group_id, GroupChange())
    if "@removed" in item:
        change.removed = True
        return
    if isinstance(item.get("displayName"), str):
        change.name = item["displayName"]
    for member in item.get("members@delta") or []:
        kind = member.get("@odata.type")
        present = "@removed" not in member
        if kind == GROUP_TYPE:
            raise NestingChanged(group_id)
        if kind == USER_TYPE or kind is None:
            change.users[str(member["id"])] = present
