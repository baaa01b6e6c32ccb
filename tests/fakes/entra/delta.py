"""Delta queries on users and groups, as "Use delta query to track changes" documents them.

A round without a token returns every existing object (groups with their members in
``members@delta``) and ends in a ``@odata.deltaLink`` that remembers the change-log
position at the round's start. A round on a delta link returns what changed since:
objects (all tracked properties, or only the changed ones with
``Prefer: return=minimal``), ``@removed`` with reason ``changed`` (soft-deleted,
restorable) or ``deleted``, and member additions and removals in ``members@delta``.
A group whose member list does not fit the page's budget is continued on the next
page, the group appearing again. Delta links older than the configured age answer
400 ``syncStateNotFound``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.entra.errors import GraphError, Reply, unsupported_query
from tests.fakes.entra.odata import TokenCodec, parse_filter, parse_select, parse_top
from tests.fakes.entra.shapes import TYPE_NAMES, context_url, link, project
from tests.fakes.entra.state import (
    GROUP_PROPERTIES,
    USER_PROPERTIES,
    Collection,
    EntraState,
    ObjectType,
    Tenant,
)

if TYPE_CHECKING:
    from tests.fakes.entra.graph import GraphRequest

MAX_FILTER_IDS = 50


def sync_state_not_found() -> GraphError:
    return GraphError(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
    )


@dataclass
class _Summary:
    """What changed about one object within a window of the change log."""

    props: set[str] = field(default_factory=set)
    # member id -> (type, still a member at the end of the window)
    members: dict[str, tuple[ObjectType, bool]] = field(default_factory=dict)


def _summarise(
    tenant: Tenant, collection: Collection, after: int, upto: int
) -> dict[str, _Summary]:
    summaries: dict[str, _Summary] = {}
    for change in tenant.changes_between(collection, after, upto):
        summary = summaries.setdefault(change.object_id, _Summary())
        if change.member_id is not None:
            assert change.member_type is not None
            summary.members[change.member_id] = (change.member_type, change.member_added)
        else:
            summary.props.update(change.props)
    return summaries


def _filter_ids(raw: str | None, properties: frozenset[str]) -> list[str] | None:
    parsed = parse_filter(raw, properties)
    if parsed is None:
        return None
    if parsed.ids is None:
        raise unsupported_query(
            "Delta queries support only $filter=id eq '{id}' (or several joined with 'or')."
        )
    if len(parsed.ids) > MAX_FILTER_IDS:
        raise unsupported_query(
            f"The $filter names {len(parsed.ids)} objects; at most {MAX_FILTER_IDS} can be tracked."
        )
    return sorted({i.lower() for i in parsed.ids})


def _filter_text(ids: list[str] | None) -> str | None:
    if not ids:
        return None
    return " or ".join(f"id eq '{i}'" for i in ids)


def restart_link(request: GraphRequest, codec: TokenCodec) -> str:
    """The initial query of a delta round, for the Location header of a 410."""
    params: dict[str, str] = {}
    token = request.query.get("$deltatoken") or request.query.get("$skiptoken")
    if token:
        try:
            payload = codec.decode(token)
        except GraphError:
            payload = {}
        if payload.get("s"):
            params["$select"] = ",".join(s for s in payload["s"] if s != "id")
        if (text := _filter_text(payload.get("f"))) is not None:
            params["$filter"] = text
    else:
        params = {k: v for k, v in request.query.items() if k in ("$select", "$filter")}
    if not params:
        return f"{request.base}/v1.0{request.path}"
    return link(request.base, request.path, params)


def answer(
    state: EntraState,
    tenant: Tenant,
    request: GraphRequest,
    codec: TokenCodec,
    collection: Collection,
) -> Reply:
    query = request.query
    now = state.clock.now().timestamp()
    max_age = state.config.delta_token_max_age.total_seconds()
    properties = USER_PROPERTIES if collection == "users" else GROUP_PROPERTIES
    type_name = "microsoft.graph.user" if collection == "users" else "microsoft.graph.group"
    skiptoken = query.get("$skiptoken")
    deltatoken = query.get("$deltatoken")
    if skiptoken:
        payload = codec.decode(skiptoken, sync_state_not_found())
        _check(payload, collection, tenant, now, max_age)
        round_ = payload
    elif deltatoken and deltatoken != "latest":
        payload = codec.decode(deltatoken, sync_state_not_found())
        _check(payload, collection, tenant, now, max_age)
        round_ = {
            "s": payload["s"],
            "f": payload["f"],
            "n": payload["n"],
            "from": payload["seq"],
            "to": tenant.seq,
            "c": None,
            "p": 1,
        }
    else:
        extra = ("members",) if collection == "groups" else ()
        select = parse_select(query.get("$select"), properties, type_name, extra)
        ids = _filter_ids(query.get("$filter"), properties)
        for option in ("$orderby", "$expand", "$search"):
            if option in query:
                raise unsupported_query(f"{option} is not supported with delta queries.")
        size = parse_top(query.get("$top"), state.config.delta_page_size)
        round_ = {
            "s": list(select) if select else None,
            "f": ids,
            "n": size,
            "from": None,
            "to": tenant.seq,
            "c": None,
            "p": 1,
        }
        if deltatoken == "latest":
            # "Sync from now": no objects, only a delta link at the current position.
            round_["c"] = "end"
    round_["t"] = tenant.id
    round_["k"] = collection

    minimal = "return=minimal" in (request.header("prefer") or "").replace(" ", "").lower()
    value, cursor = _page(state, tenant, collection, round_, minimal)
    select_list = round_["s"]
    body: dict[str, Any] = {
        "@odata.context": context_url(
            request.base, collection, tuple(select_list) if select_list else None
        )
    }
    if cursor is None:
        delta_payload = {
            "k": collection,
            "t": tenant.id,
            "s": round_["s"],
            "f": round_["f"],
            "n": round_["n"],
            "seq": round_["to"],
            "iat": now,
        }
        body["@odata.deltaLink"] = link(
            request.base, request.path, {"$deltatoken": codec.encode(delta_payload)}
        )
    else:
        next_payload = {**round_, "c": cursor, "p": round_["p"] + 1, "iat": now}
        body["@odata.nextLink"] = link(
            request.base, request.path, {"$skiptoken": codec.encode(next_payload)}
        )
    body["value"] = value
    return Reply(200, body)


def _check(
    payload: Mapping[str, Any], collection: Collection, tenant: Tenant, now: float, max_age: float
) -> None:
    if payload.get("k") != collection or payload.get("t") != tenant.id:
        raise sync_state_not_found()
    if now - float(payload.get("iat", now)) > max_age:
        raise sync_state_not_found()


def _page(
    state: EntraState,
    tenant: Tenant,
    collection: Collection,
    round_: dict[str, Any],
    minimal: bool,
) -> tuple[list[dict[str, Any]], Any]:
    """One page of the round and the cursor of the next (None: the round is complete)."""
    cursor = round_["c"]
    if cursor == "end":
        return [], None
    kind: ObjectType = "user" if collection == "users" else "group"
    select: tuple[str, ...] | None = tuple(round_["s"]) if round_["s"] else None
    track_members = collection == "groups" and (select is None or "members" in select)
    filter_ids: list[str] | None = round_["f"]
    source = tenant.users if kind == "user" else tenant.groups
    summaries: dict[str, _Summary] | None = None
    if round_["from"] is None:
        ids = (
            tenant.sorted_ids(kind)
            if filter_ids is None
            else sorted(i for i in filter_ids if i in source)
        )
    else:
        summaries = _summarise(tenant, collection, round_["from"], round_["to"])
        candidates = (
            summaries
            if filter_ids is None
            else {i: s for i, s in summaries.items() if i in filter_ids}
        )
        ids = sorted(candidates)

    page_size: int = round_["n"]
    member_budget = state.config.delta_members_per_page
    after_group, partial = (None, None) if cursor is None else cursor
    if partial is not None:
        start = bisect.bisect_left(ids, partial[0])
    else:
        start = 0 if after_group is None else bisect.bisect_right(ids, after_group)

    value: list[dict[str, Any]] = []
    last_done = after_group
    for object_id in ids[start:]:
        if len(value) == page_size:
            return value, [last_done, None]
        summary = summaries.get(object_id) if summaries is not None else None
        obj = source.get(object_id)
        if obj is None:
            if summary is not None:
                reason = "changed" if object_id in tenant.deleted_users else "deleted"
                value.append({"id": object_id, "@removed": {"reason": reason}})
            last_done = object_id
            continue
        item = _properties(obj, kind, select, summary, minimal)
        entries: list[dict[str, Any]] = []
        if track_members:
            entries = _member_entries(tenant, object_id, summary)
        if item is None and not entries:
            last_done = object_id
            continue
        if item is None:
            item = {"id": object_id}
        if entries:
            if partial is not None and partial[0] == object_id:
                entries = entries[bisect.bisect_right([e["id"] for e in entries], partial[1]) :]
            if member_budget == 0:
                return value, [last_done, None]
            chunk = entries[:member_budget]
            member_budget -= len(chunk)
            item["members@delta"] = chunk
            value.append(item)
            if len(chunk) < len(entries):
                return value, [last_done, [object_id, chunk[-1]["id"]]]
        else:
            value.append(item)
        partial = None
        last_done = object_id
    return value, None


def _properties(
    obj: Mapping[str, Any],
    kind: ObjectType,
    select: tuple[str, ...] | None,
    summary: _Summary | None,
    minimal: bool,
) -> dict[str, Any] | None:
    """The object's tracked properties for this round; None when none of them changed."""
    tracked = None if select is None else tuple(s for s in select if s != "members")
    if summary is None:
        return project(obj, kind, tracked, with_type=False)
    changed = summary.props
    if "*" in changed:
        return project(obj, kind, tracked, with_type=False)
    relevant = changed if tracked is None else changed.intersection(tracked)
    if not relevant:
        return None
    if minimal:
        return project(obj, kind, ("id", *sorted(relevant)), with_type=False)
    return project(obj, kind, tracked, with_type=False)


def _member_entries(
    tenant: Tenant, group_id: str, summary: _Summary | None
) -> list[dict[str, Any]]:
    if summary is None or "*" in summary.props:
        members = tenant.members.get(group_id, {})
        return [
            {"@odata.type": f"#{TYPE_NAMES[members[m]]}", "id": m}
            for m in tenant.sorted_members(group_id)
        ]
    entries = []
    for member_id in sorted(summary.members):
        member_type, present = summary.members[member_id]
        entry: dict[str, Any] = {"@odata.type": f"#{TYPE_NAMES[member_type]}", "id": member_id}
        if not present:
            entry["@removed"] = {"reason": "deleted"}
        entries.append(entry)
    return entries
