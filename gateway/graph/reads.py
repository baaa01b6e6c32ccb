"""The Graph reads the gateway makes, as documented, returning plain JSON values.

Only the properties the sync needs are selected; collections are read with
``$top=999`` (the documented maximum for users, groups and members) and
streamed page by page, so memory is bounded by a page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from gateway.graph.client import GraphClient
from gateway.graph.errors import GraphError

USER_SELECT = "id,displayName,mail,userPrincipalName,accountEnabled,userType"
GROUP_SELECT = "id,displayName,securityEnabled"
PAGE_SIZE = 999
# Documented limit of ``id eq`` clauses in one delta query's $filter.
DELTA_FILTER_IDS = 50
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"


def users_url() -> str:
    return f"/users?$select={USER_SELECT}&$top={PAGE_SIZE}"


def user_path(user_id: str) -> str:
    return f"/users/{quote(user_id)}?$select={USER_SELECT}"


def group_path(group_id: str) -> str:
    return f"/groups/{quote(group_id)}?$select={GROUP_SELECT}"


def members_path(group_id: str) -> str:
    return f"/groups/{quote(group_id)}/members?$select=id&$top={PAGE_SIZE}"


def users_delta_url() -> str:
    return f"/users/delta?$select={USER_SELECT}"


def groups_delta_url(group_ids: Sequence[str]) -> str:
    if not 0 < len(group_ids) <= DELTA_FILTER_IDS:
        raise ValueError(f"a groups delta filter takes 1 to {DELTA_FILTER_IDS} ids")
    clauses = " or ".join(f"id eq '{g}'" for g in group_ids)
    return f"/groups/delta?$select=displayName,members&$filter={quote(clauses)}"


@dataclass(slots=True)
class Members:
    """Direct members of one group, split by kind (others, like devices, ignored)."""

    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def add(self, item: dict[str, Any]) -> None:
        kind = item.get("@odata.type")
        member_id = item.get("id")
        if not isinstance(member_id, str):
            return
        if kind == USER_TYPE:
            self.users.append(member_id)
        elif kind == GROUP_TYPE:
            self.groups.append(member_id)


def user_pages(client: GraphClient) -> Iterator[list[dict[str, Any]]]:
    """Every user of the tenant, one page at a time."""
    for page in client.pages(users_url()):
        yield list(page.get("value", []))


def groups_and_first_members(
    client: GraphClient, group_ids: Sequence[str]
) -> dict[str, tuple[dict[str, Any] | GraphError, dict[str, Any] | GraphError]]:
    """Each group's properties and first page of members, 10 groups per ``$batch``."""
    paths = [p for g in group_ids for p in (group_path(g), members_path(g))]
    answers = client.batch(paths)
    result: dict[str, tuple[dict[str, Any] | GraphError, dict[str, Any] | GraphError]] = {}
    for index, group_id in enumerate(group_ids):
        info, members = answers[2 * index], answers[2 * index + 1]
        result[group_id] = (
            info.error if info.error is not None else info.unwrap(),
            members.error if members.error is not None else members.unwrap(),
        )
    return result


def rest_of_members(client: GraphClient, first_page: dict[str, Any], into: Members) -> None:
    """Add the first page's members and every following page's to ``into``."""
    for item in first_page.get("value", []):
        into.add(item)
    link = first_page.get("@odata.nextLink")
    if link:
        for page in client.pages(str(link)):
            for item in page.get("value", []):
                into.add(item)


def search_groups(
    client: GraphClient, prefix: str, *, top: int, next_link: str | None = None
) -> dict[str, Any]:
    """One page of security groups whose name starts with ``prefix``."""
    if next_link is not None:
        return client.get(next_link)
    clauses = ["securityEnabled eq true"]
    if prefix:
        escaped = prefix.replace("'", "''")
        clauses.append(f"startswith(displayName,'{escaped}')")
    query = quote(" and ".join(clauses))
    return client.get(f"/groups?$select={GROUP_SELECT}&$filter={query}&$top={top}")


def names_held_twice(client: GraphClient, names: Sequence[str]) -> set[str]:
    """Which of ``names`` (lower-cased in the answer) two or more security groups have.

    One filtered read per distinct name, at most two ids each, through ``$batch``:
    the cost follows the names asked about, not the size of the tenant. Directory
    string comparisons are case-insensitive, as the tags' duplicate rule is.
    """
    distinct = list({n.lower(): n for n in names if n}.values())
    paths = []
    for name in distinct:
        escaped = name.replace("'", "''")
        clauses = quote(f"securityEnabled eq true and displayName eq '{escaped}'")
        paths.append(f"/groups?$select=id&$filter={clauses}&$top=2")
    held_twice = set()
    for name, answer in zip(distinct, client.batch(paths), strict=True):
        if len(answer.unwrap().get("value", [])) > 1:
            held_twice.add(name.lower())
    return held_twice


def latest_delta_link(client: GraphClient, url: str) -> str:
    """A delta link for "from now on" (``$deltatoken=latest``), without reading the resources.

    A service that ignores ``latest`` answers with a full first round; it is
    read through (and discarded) to reach its delta link.
    """
    joiner = "&" if "?" in url else "?"
    for page in client.pages(f"{url}{joiner}$deltatoken=latest"):
        link = page.get("@odata.deltaLink")
        if link:
            return str(link)
    raise GraphError("Microsoft Graph ended a delta round without a delta link.")


def delta_pages(client: GraphClient, link: str) -> Iterator[dict[str, Any]]:
    """The pages of one delta round, starting from a stored delta link."""
    return client.pages(link)
