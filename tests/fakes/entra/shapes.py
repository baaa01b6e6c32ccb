"""How Graph writes objects, links and contexts in its JSON: shared by lists, delta and batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tests.fakes.entra.state import DEFAULT_SELECT, PROPERTIES, ObjectType

TYPE_NAMES: Mapping[ObjectType, str] = {
    "user": "microsoft.graph.user",
    "group": "microsoft.graph.group",
    "device": "microsoft.graph.device",
    "servicePrincipal": "microsoft.graph.servicePrincipal",
}


def context_url(base: str, entity_set: str, select: tuple[str, ...] | None) -> str:
    suffix = f"({','.join(select)})" if select else ""
    return f"{base}/v1.0/$metadata#{entity_set}{suffix}"


def link(base: str, path: str, params: Mapping[str, str]) -> str:
    """A next or delta link: Graph writes the ``$`` of query options literally."""
    query = "&".join(f"{name}={quote(value, safe=',()*')}" for name, value in params.items())
    return f"{base}/v1.0{path}?{query}"


def project(
    obj: Mapping[str, Any],
    kind: ObjectType,
    select: tuple[str, ...] | None,
    with_type: bool,
    limited: bool = False,
) -> dict[str, Any]:
    """The object as Graph returns it: selected (or default) properties, typed in mixed lists.

    Selected properties that are unset come back as null, as Graph does.
    """
    item: dict[str, Any] = {"@odata.type": f"#{TYPE_NAMES[kind]}"} if with_type else {}
    if limited:
        # Without a role that reads this type, a directoryObject list shows only type and id.
        item["id"] = obj["id"]
        return item
    names = DEFAULT_SELECT[kind] if select is None else select
    allowed = PROPERTIES[kind]
    for name in names:
        if name in allowed:
            item[name] = obj.get(name)
    return item
