"""Microsoft Graph v1.0 reads: users, groups, members and transitive members.

One dispatcher answers both plain HTTP requests and ``$batch`` items, so both see
the same faults, authentication and routes. Pages are cut by object id (keyset),
so an object added or removed while a client pages neither shifts nor repeats others.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.entra import delta
from tests.fakes.entra.errors import (
    FAULT_ERRORS,
    GraphError,
    Reply,
    bad_request,
    graph_error_reply,
    not_found,
    unsupported_query,
)
from tests.fakes.entra.odata import (
    Predicate,
    TokenCodec,
    parse_filter,
    parse_search,
    parse_select,
    parse_top,
    require_advanced,
)
from tests.fakes.entra.shapes import TYPE_NAMES, context_url, link, project
from tests.fakes.entra.state import (
    GROUP_PROPERTIES,
    PROPERTIES,
    USER_PROPERTIES,
    EntraState,
    ObjectType,
    Tenant,
)
from tests.fakes.entra.tokens import Caller, require_any_role, verify_access_token

DEFAULT_PAGE_SIZE = 100

USER_READERS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
GROUP_READERS = (
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
CASTS = {name: kind for kind, name in TYPE_NAMES.items()}


@dataclass(frozen=True)
class GraphRequest:
    """A Graph request: ``path`` is what follows ``/v1.0``; ``base`` is ``scheme://host[:port]``."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    base: str
    in_batch: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Context:
    state: EntraState
    request: GraphRequest
    tenant: Tenant
    caller: Caller
    codec: TokenCodec


Handler = Callable[[Context, re.Match[str]], Reply]


def dispatch(state: EntraState, request: GraphRequest) -> Reply:
    """Answer one Graph request (or batch item): fault, auth, then the route."""
    state.requests.record(request.method, f"/v1.0{request.path}", in_batch=request.in_batch)
    now = state.clock.now()
    client_request_id = request.header("client-request-id")
    codec = TokenCodec(state.token_key_seed)
    try:
        fault = state.faults.take(
            request.method, f"/v1.0{request.path}", _page_of(request, codec), request.in_batch
        )
        if fault is not None:
            return _fault_reply(state, request, fault.status, fault.retry_after, codec)
        caller = verify_access_token(request.header("authorization"), request.base, now)
        tenant = state.tenants.get(caller.tenant_id)
        if tenant is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if request.method != "GET":
            raise GraphError(
                405, "Request_BadRequest", f"The fake serves only reads; {request.method} refused."
            )
        for pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is not None:
                with state.lock:
                    return handler(Context(state, request, tenant, caller, codec), match)
        segment = request.path.strip("/").split("/")[-1]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    except GraphError as error:
        return graph_error_reply(error, now, client_request_id)


def _page_of(request: GraphRequest, codec: TokenCodec) -> int:
    token = request.query.get("$skiptoken")
    if token is None:
        return 1
    try:
        return int(codec.decode(token).get("p", 1))
    except GraphError:
        return 1


def _fault_reply(
    state: EntraState,
    request: GraphRequest,
    status: int,
    retry_after: int | None,
    codec: TokenCodec,
) -> Reply:
    code, message = FAULT_ERRORS.get(status, ("UnknownError", "Programmed failure."))
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    if status == 410 and request.path.endswith("/delta"):
        headers["Location"] = delta.restart_link(request, codec)
    return graph_error_reply(
        GraphError(status, code, message, headers),
        state.clock.now(),
        request.header("client-request-id"),
    )


# --- helpers shared by the routes ------------------------------------------------


def _select_and_filter(
    ctx: Context, properties: frozenset[str], type_name: str
) -> tuple[tuple[str, ...] | None, Predicate | None, bool]:
    """$select, then $filter and $search as one predicate, and whether $count=true was asked."""
    query = ctx.request.query
    consistency = ctx.request.header("consistencylevel")
    select = parse_select(query.get("$select"), properties, type_name)
    filter_ = parse_filter(query.get("$filter"), properties)
    require_advanced(filter_, consistency, query.get("$count"))
    for option in ("$orderby", "$expand"):
        if option in query:
            raise unsupported_query(f"The fake does not implement {option}.")
    count = (query.get("$count") or "").lower() == "true"
    if count and (consistency or "").lower() != "eventual":
        raise bad_request(
            "$count on directory objects needs the header ConsistencyLevel: eventual."
        )
    predicates: list[Predicate] = []
    if filter_ is not None:
        predicates.append(filter_.predicate)
    if "$search" in query:
        predicates.append(parse_search(query["$search"], properties, consistency))
    if not predicates:
        return select, None, count
    if len(predicates) == 1:
        return select, predicates[0], count
    first, second = predicates
    return select, lambda obj: first(obj) and second(obj), count


def _page(
    ctx: Context,
    ids: list[str],
    lookup: Callable[[str], Mapping[str, Any] | None],
    keep: Callable[[Mapping[str, Any]], bool],
    top: int,
    after: str | None,
) -> tuple[list[Mapping[str, Any]], str | None]:
    """Up to ``top`` objects after id ``after`` that pass ``keep``; the last id when more remain."""
    start = 0 if after is None else bisect.bisect_right(ids, after)
    found: list[Mapping[str, Any]] = []
    for index in range(start, len(ids)):
        obj = lookup(ids[index])
        if obj is None or not keep(obj):
            continue
        if len(found) == top:
            return found, found[-1]["id"]
        found.append(obj)
    return found, None


def _paged_list(
    ctx: Context,
    token_kind: str,
    entity_set: str,
    ids: list[str],
    lookup: Callable[[str], Mapping[str, Any] | None],
    kind_of: Callable[[Mapping[str, Any]], ObjectType],
    properties: frozenset[str],
    type_name: str,
    with_type: bool,
    limited_types: frozenset[ObjectType] = frozenset(),
    keep_extra: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Reply:
    query = dict(ctx.request.query)
    after: str | None = None
    page = 1
    token = query.pop("$skiptoken", None)
    if token is not None:
        payload = ctx.codec.decode(token)
        if payload.get("k") != token_kind or payload.get("t") != ctx.tenant.id:
            raise bad_request("The page token does not belong to this request.")
        query = payload["q"]
        after = payload["a"]
        page = payload["p"]
    inner = GraphRequest(
        ctx.request.method, ctx.request.path, query, ctx.request.headers, ctx.request.base
    )
    select, predicate, count = _select_and_filter(
        Context(ctx.state, inner, ctx.tenant, ctx.caller, ctx.codec), properties, type_name
    )
    top = parse_top(query.get("$top"), DEFAULT_PAGE_SIZE)

    def keep(obj: Mapping[str, Any]) -> bool:
        if keep_extra is not None and not keep_extra(obj):
            return False
        return predicate is None or predicate(obj)

    found, last = _page(ctx, ids, lookup, keep, top, after)
    value = []
    for obj in found:
        kind = kind_of(obj)
        value.append(project(obj, kind, select, with_type, kind in limited_types))
    body: dict[str, Any] = {"@odata.context": context_url(ctx.request.base, entity_set, select)}
    if count:
        body["@odata.count"] = sum(1 for i in ids if (obj := lookup(i)) is not None and keep(obj))
    if last is not None:
        next_token = ctx.codec.encode(
            {"k": token_kind, "t": ctx.tenant.id, "q": query, "a": last, "p": page + 1}
        )
        body["@odata.nextLink"] = link(
            ctx.request.base, ctx.request.path, {**query, "$skiptoken": next_token}
        )
    body["value"] = value
    return Reply(200, body)


# --- routes ------------------------------------------------------------------------


def list_users(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, *USER_READERS)
    users = ctx.tenant.users
    return _paged_list(
        ctx,
        "users",
        "users",
        ctx.tenant.sorted_ids("user"),
        users.get,
        lambda _obj: "user",
        USER_PROPERTIES,
        "microsoft.graph.user",
        with_type=False,
    )


def list_groups(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, *GROUP_READERS)
    groups = ctx.tenant.groups
    return _paged_list(
        ctx,
        "groups",
        "groups",
        ctx.tenant.sorted_ids("group"),
        groups.get,
        lambda _obj: "group",
        GROUP_PROPERTIES,
        "microsoft.graph.group",
        with_type=False,
    )


def get_user(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, *USER_READERS)
    key = match["id"]
    user = ctx.tenant.users.get(key)
    if user is None:
        # /users/{id | userPrincipalName}
        user = next(
            (u for u in ctx.tenant.users.values() if u["userPrincipalName"].lower() == key.lower()),
            None,
        )
    if user is None:
        raise not_found(key)
    select = parse_select(ctx.request.query.get("$select"), USER_PROPERTIES, "microsoft.graph.user")
    body = {"@odata.context": context_url(ctx.request.base, "users/$entity", select)}
    body.update(project(user, "user", select, with_type=False))
    return Reply(200, body)


def get_group(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, *GROUP_READERS)
    group = ctx.tenant.groups.get(match["id"])
    if group is None:
        raise not_found(match["id"])
    select = parse_select(
        ctx.request.query.get("$select"), GROUP_PROPERTIES, "microsoft.graph.group"
    )
    body = {"@odata.context": context_url(ctx.request.base, "groups/$entity", select)}
    body.update(project(group, "group", select, with_type=False))
    return Reply(200, body)


def _members(ctx: Context, match: re.Match[str], transitive: bool) -> Reply:
    require_any_role(ctx.caller, *GROUP_READERS)
    group_id = match["id"]
    if group_id not in ctx.tenant.groups:
        raise not_found(group_id)
    cast_name = match["cast"]
    cast: ObjectType | None = None
    if cast_name is not None:
        cast = CASTS.get(cast_name)
        if cast is None:
            raise GraphError(
                400, "BadRequest", f"Resource not found for the segment '{cast_name}'."
            )
    tenant = ctx.tenant
    ids = tenant.transitive_members(group_id) if transitive else tenant.sorted_members(group_id)
    limited: frozenset[ObjectType] = frozenset()
    if not ctx.caller.roles.intersection(USER_READERS):
        limited = frozenset({"user"})
    if cast is not None:
        properties = PROPERTIES[cast]
        type_name = TYPE_NAMES[cast]
    else:
        properties = frozenset().union(*PROPERTIES.values())
        type_name = "microsoft.graph.directoryObject"
    relation = "transitiveMembers" if transitive else "members"
    entity_set = TYPE_NAMES[cast].split(".")[-1] + "s" if cast else "directoryObjects"
    types = tenant.types
    return _paged_list(
        ctx,
        f"{relation}:{group_id}:{cast_name or ''}",
        entity_set,
        ids,
        tenant.get,
        lambda obj: types[obj["id"]],
        properties,
        type_name,
        with_type=cast is None,
        limited_types=limited,
        keep_extra=None if cast is None else (lambda obj: types.get(obj["id"]) == cast),
    )


def list_members(ctx: Context, match: re.Match[str]) -> Reply:
    return _members(ctx, match, transitive=False)


def list_transitive_members(ctx: Context, match: re.Match[str]) -> Reply:
    return _members(ctx, match, transitive=True)


def users_delta(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, *USER_READERS)
    return delta.answer(ctx.state, ctx.tenant, ctx.request, ctx.codec, "users")


def groups_delta(ctx: Context, match: re.Match[str]) -> Reply:
    require_any_role(ctx.caller, "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All")
    return delta.answer(ctx.state, ctx.tenant, ctx.request, ctx.codec, "groups")


_ID = r"(?P<id>[^/]+)"
_CAST = r"(?:/(?P<cast>microsoft\.graph\.[A-Za-z]+))?"
_DELTA = r"/(?:delta|microsoft\.graph\.delta)(?:\(\))?"
ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"/users" + _DELTA), users_delta),
    (re.compile(r"/groups" + _DELTA), groups_delta),
    (re.compile(r"/users"), list_users),
    (re.compile(r"/groups"), list_groups),
    (re.compile(r"/users/" + _ID), get_user),
    (re.compile(r"/groups/" + _ID), get_group),
    (re.compile(r"/groups/" + _ID + r"/members" + _CAST), list_members),
    (re.compile(r"/groups/" + _ID + r"/transitiveMembers" + _CAST), list_transitive_members),
]


_OPTIONS = {
    "select",
    "top",
    "filter",
    "skiptoken",
    "deltatoken",
    "count",
    "search",
    "orderby",
    "expand",
}


def normalise_query(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Query options by their ``$`` name: Graph v1.0 also accepts them without the ``$``."""
    query: dict[str, str] = {}
    for name, value in pairs:
        key = f"${name}" if name.lower() in _OPTIONS else name
        query[key if not key.startswith("$") else key.lower()] = value
    return query
