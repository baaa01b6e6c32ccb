"""``/Users`` and ``/Groups`` (RFC 7644 §3.3-§3.6) and ``POST /.search`` (§3.4.3)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from gateway.store.scim_resources import (
    Kind,
    MemberChange,
    Stored,
    UserFields,
    create_resource,
    delete_resource,
    get_resource,
    update_resource,
)
from gateway.store.scim_runs import record_refusal
from scim import etag as etags
from scim.attributes import ResourceType
from scim.errors import ScimError, quote
from scim.patch import apply_patch, normalise_resource, operations_of
from scim.projection import parse_projection
from scim.resources import (
    RESOURCE_TYPES,
    NoPrimaryEmailError,
    etag,
    group_fields,
    location,
    member_ids,
    stored_resource,
    user_fields,
)
from scim.responses import empty_response, list_response, scim_response
from scim.search import (
    SEARCH_REQUEST_SCHEMA,
    params_from_body,
    params_from_query,
    render_many,
    search,
)
from scim.server import Call


def _kind(call: Call) -> Kind:
    return Kind(call.path_params["kind"])


def _answer(call: Call, kind: Kind, stored: Stored, status: int = 200) -> Response:
    projection = parse_projection(
        RESOURCE_TYPES[kind],
        call.query.get("attributes"),
        call.query.get("excludedAttributes"),
    )
    text = render_many(call.server, call.tenant_id, kind, [stored], projection)[0]
    headers = {"ETag": etag(stored.version)}
    if status == 201:
        headers["Location"] = location(call.server.base_url, kind, stored.id)
    return scim_response(text, status, headers)


def list_resources(call: Call) -> Response:
    kind = _kind(call)
    return scim_response(search(call.server, call.tenant_id, kind, params_from_query(call.query)))


def search_resources(call: Call) -> Response:
    kind = _kind(call)
    body = call.json_object()
    _require_schema(body, SEARCH_REQUEST_SCHEMA)
    return scim_response(search(call.server, call.tenant_id, kind, params_from_body(body)))


def search_all(call: Call) -> Response:
    """``POST /.search`` at the root: users then groups, paged as one list."""
    body = call.json_object()
    _require_schema(body, SEARCH_REQUEST_SCHEMA)
    params = params_from_body(body)
    # A root search filters on attributes both types share (RFC 7644 §3.4.3);
    # each type is searched on its own and the pages are joined.
    texts: list[str] = []
    total = 0
    for kind in (Kind.USER, Kind.GROUP):
        try:
            answer = json.loads(search(call.server, call.tenant_id, kind, params))
        except ScimError as error:
            if error.scim_type == "invalidFilter" and "unknown attribute" in error.detail:
                continue
            raise
        total += answer["totalResults"]
        texts.extend(json.dumps(item) for item in answer["Resources"])
    return scim_response(list_response(texts, total, max(params.start_index, 1)))


def get_one(call: Call) -> Response:
    kind = _kind(call)
    stored = _found(call, kind)
    if etags.matches(call.headers.get("if-none-match"), stored.version):
        return empty_response(304, {"ETag": etag(stored.version)})
    return _answer(call, kind, stored)


def _user_fields(call: Call, resource: dict[str, Any]) -> UserFields:
    """The user's columns; a refusal for want of a Primary Email is counted in the
    tenant's push report, where the admin API shows it."""
    try:
        return user_fields(resource)
    except NoPrimaryEmailError as refused:
        _record_refusal(call, refused)
        raise


def create(call: Call) -> Response:
    kind = _kind(call)
    resource = normalise_resource(call.json_object(), RESOURCE_TYPES[kind])
    if kind is Kind.USER:
        stored = create_resource(
            call.server.engine, call.tenant_id, _user_fields(call, resource), wait=call.waits
        )
    else:
        members = member_ids(resource.get("members"))
        stored = create_resource(
            call.server.engine,
            call.tenant_id,
            group_fields(resource),
            members=members,
            wait=call.waits,
        )
    call.server.changed(call.tenant_id)
    return _answer(call, kind, stored, 201)


def replace(call: Call) -> Response:
    kind = _kind(call)
    resource = normalise_resource(call.json_object(), RESOURCE_TYPES[kind])
    fields = _user_fields(call, resource) if kind is Kind.USER else group_fields(resource)
    members = (
        MemberChange(replaced=member_ids(resource.get("members")))
        if kind is Kind.GROUP
        else MemberChange()
    )
    stored = update_resource(
        call.server.engine,
        call.tenant_id,
        kind,
        call.path_params["id"],
        lambda _current: (fields, members),
        if_match=etags.parse_if_match(call.headers.get("if-match")),
        wait=call.waits,
    )
    call.server.changed(call.tenant_id)
    return _answer(call, kind, stored)


def patch(call: Call) -> Response:
    kind = _kind(call)
    rtype = RESOURCE_TYPES[kind]
    operations = [_without_extension_schemas(op, rtype) for op in operations_of(call.body)]

    def build(current: Stored) -> tuple[Any, MemberChange]:
        result = apply_patch(stored_resource(current), operations, resource_type=rtype)
        members = MemberChange()
        if kind is Kind.GROUP:
            members = MemberChange(
                added=_ids(result.members_added),
                removed=_ids(result.members_removed),
                replaced=None if result.members_replaced is None else _ids(result.members_replaced),
            )
        if not result.changed:
            return None, members
        after = result.resource
        fields = user_fields(after) if kind is Kind.USER else group_fields(after)
        return fields, members

    try:
        stored = update_resource(
            call.server.engine,
            call.tenant_id,
            kind,
            call.path_params["id"],
            build,
            if_match=etags.parse_if_match(call.headers.get("if-match")),
            wait=call.waits,
        )
    except NoPrimaryEmailError as refused:
        # Recorded once the resource's transaction is over (SQLite has one writer).
        _record_refusal(call, refused)
        raise
    call.server.changed(call.tenant_id)
    if _wants_body(call):
        return _answer(call, kind, stored)
    return empty_response(204, {"ETag": etag(stored.version)})


def delete(call: Call) -> Response:
    kind = _kind(call)
    delete_resource(
        call.server.engine,
        call.tenant_id,
        kind,
        call.path_params["id"],
        if_match=etags.parse_if_match(call.headers.get("if-match")),
        wait=call.waits,
    )
    call.server.changed(call.tenant_id)
    return empty_response(204)


# -- helpers -----------------------------------------------------------------------


def _record_refusal(call: Call, refused: NoPrimaryEmailError) -> None:
    record_refusal(
        call.server.engine,
        call.tenant_id,
        refused.user_name,
        refused.external_id,
        wait=call.waits,
    )


def _found(call: Call, kind: Kind) -> Stored:
    stored = get_resource(call.server.engine, call.tenant_id, kind, call.path_params["id"])
    if stored is None:
        raise ScimError(404, None, f"Resource {quote(call.path_params['id'])} not found.")
    return stored


def _without_extension_schemas(operation: Any, rtype: ResourceType) -> Any:
    """An operation whose path is an extension's URN sets that extension's
    attributes; a ``schemas`` key in its value (clients dump the extension
    object whole) says nothing more and is dropped."""
    if not isinstance(operation, dict):
        return operation
    path = next((v for k, v in operation.items() if str(k).lower() == "path"), None)
    value = next((v for k, v in operation.items() if str(k).lower() == "value"), None)
    if not isinstance(path, str) or not isinstance(value, dict):
        return operation
    if rtype.schema_for(path.strip()) is None:
        return operation
    cleaned = {k: v for k, v in value.items() if str(k).lower() != "schemas"}
    return {k: (cleaned if str(k).lower() == "value" else v) for k, v in operation.items()}


def _wants_body(call: Call) -> bool:
    # RFC 7644 §3.5.2: 204 unless attributes were asked for; Entra accepts both.
    return "attributes" in call.query or "excludedAttributes" in call.query


def _ids(values: Any) -> list[str]:
    # The PATCH engine has checked each id already; only the trimming is left.
    return [member.strip() for member in values] if values else []


def _require_schema(body: dict[str, Any], urn: str) -> None:
    schemas = body.get("schemas")
    if schemas is None:
        return  # Entra and others omit it; the endpoint already says what the body is
    if not isinstance(schemas, list) or not any(
        isinstance(s, str) and s.lower() == urn.lower() for s in schemas
    ):
        raise ScimError(400, "invalidSyntax", f"The body's schemas must include {urn}.")
