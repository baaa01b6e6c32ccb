"""Query resources (RFC 7644 §3.4.2): filter, sort, page and project, as SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.store.scim_resources import (
    Kind,
    Stored,
    group_members,
    search_resources,
    user_groups,
)
from scim.errors import ScimError, quote
from scim.filter import parse_filter, parse_path
from scim.filter_sql import compile_filter, sort_expression
from scim.projection import Projection, parse_projection
from scim.resources import RESOURCE_TYPES, location, render, render_text
from scim.responses import dumps, list_response
from scim.server import ScimServer

SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True, slots=True)
class SearchParams:
    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    attributes: Any = None
    excluded: Any = None


def params_from_query(query: Mapping[str, str]) -> SearchParams:
    """Search parameters from a GET query string (names case-insensitive)."""
    folded = {key.lower(): value for key, value in query.items()}
    return SearchParams(
        filter=folded.get("filter"),
        sort_by=folded.get("sortby"),
        descending=_descending(folded.get("sortorder")),
        start_index=_integer(folded.get("startindex"), "startIndex", 1),
        count=_optional_integer(folded.get("count"), "count"),
        attributes=folded.get("attributes"),
        excluded=folded.get("excludedattributes"),
    )


def params_from_body(body: Mapping[str, Any]) -> SearchParams:
    """Search parameters from a ``POST /.search`` body (RFC 7644 §3.4.3)."""
    folded = {str(key).lower(): value for key, value in body.items()}
    text = folded.get("filter")
    if text is not None and not isinstance(text, str):
        raise ScimError(400, "invalidFilter", "filter must be a string.")
    sort_by = folded.get("sortby")
    if sort_by is not None and not isinstance(sort_by, str):
        raise ScimError(400, "invalidValue", "sortBy must be a string.")
    return SearchParams(
        filter=text,
        sort_by=sort_by,
        descending=_descending(folded.get("sortorder")),
        start_index=_integer(folded.get("startindex"), "startIndex", 1),
        count=_optional_integer(folded.get("count"), "count"),
        attributes=folded.get("attributes"),
        excluded=folded.get("excludedattributes"),
    )


def _descending(value: Any) -> bool:
    if value is None or value == "":
        return False
    if not isinstance(value, str) or value.lower() not in ("ascending", "descending"):
        raise ScimError(400, "invalidValue", "sortOrder must be 'ascending' or 'descending'.")
    return value.lower() == "descending"


def _optional_integer(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    return _integer(value, name, 0)


def _integer(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ScimError(400, "invalidValue", f"{name} must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ScimError(400, "invalidValue", f"{name} must be an integer, not {quote(value)}.")


def search(server: ScimServer, tenant_id: str, kind: Kind, params: SearchParams) -> str:
    """The ListResponse text for one resource type."""
    rtype = RESOURCE_TYPES[kind]
    settings = server.settings
    dialect = server.engine.dialect.name
    condition = None
    if params.filter is not None and params.filter.strip():
        node = parse_filter(
            params.filter,
            resource_type=rtype,
            max_length=settings.scim_filter_max_length,
            max_depth=settings.scim_filter_max_depth,
        )
        condition = compile_filter(dialect, kind, node)
    order_by: list[str] = []
    if params.sort_by:
        path = parse_path(params.sort_by, resource_type=rtype).path
        expression = sort_expression(dialect, kind, path)
        order_by.append(f"{expression} {'DESC' if params.descending else 'ASC'}")
    start = max(params.start_index, 1)
    count = settings.scim_max_count if params.count is None else params.count
    count = min(max(count, 0), settings.scim_max_count)
    result = search_resources(
        server.engine,
        tenant_id,
        kind,
        condition=condition,
        order_by=order_by,
        offset=start - 1,
        limit=count,
    )
    projection = parse_projection(rtype, params.attributes, params.excluded)
    items = render_many(server, tenant_id, kind, list(result.items), projection)
    return list_response(items, result.total, start)


def render_many(
    server: ScimServer, tenant_id: str, kind: Kind, items: list[Stored], projection: Projection
) -> list[str]:
    """Each resource as JSON text, with members (groups) or groups (users) when asked."""
    base = server.base_url
    relations = _relations(server, tenant_id, kind, items, projection)
    if projection.is_default and not relations:
        return [render_text(base, kind, stored) for stored in items]
    out: list[str] = []
    for stored in items:
        extra = relations.get(stored.seq)
        body = render(base, kind, stored, extra)
        out.append(dumps(projection.apply(body)))
    return out


def _relations(
    server: ScimServer,
    tenant_id: str,
    kind: Kind,
    items: list[Stored],
    projection: Projection,
) -> dict[int, dict[str, Any]]:
    if not items:
        return {}
    if kind is Kind.GROUP and projection.returns("members"):
        found = group_members(server.engine, tenant_id, [s.seq for s in items])
        return {
            seq: (
                {
                    "members": [
                        {
                            "value": m.id,
                            "$ref": location(server.base_url, Kind.USER, m.id),
                            "type": "User",
                            **({"display": m.display} if m.display else {}),
                        }
                        for m in members
                    ]
                }
                if members
                else {}
            )
            for seq, members in found.items()
        }
    # A user's groups are read-only and Entra never reads them: only on request.
    if kind is Kind.USER and projection.returns("groups", default=False):
        found = user_groups(server.engine, tenant_id, [s.seq for s in items])
        return {
            seq: (
                {
                    "groups": [
                        {
                            "value": g.id,
                            "$ref": location(server.base_url, Kind.GROUP, g.id),
                            "type": "direct",
                            **({"display": g.display} if g.display else {}),
                        }
                        for g in groups
                    ]
                }
                if groups
                else {}
            )
            for seq, groups in found.items()
        }
    return {}
