"""``POST /Bulk`` (RFC 7644 §3.7): operations in order, ``bulkId`` references, ``failOnErrors``.

Each operation is served by the same handler as the single request, so it
gets the same checks; ``bulkId:<id>`` anywhere in a later operation's data or
path is replaced by the id of the resource the earlier operation created.
A reference to an operation that failed, or that has not run, fails that
operation with ``invalidValue`` (RFC 7644 §3.7.2).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from scim.errors import ScimError, quote
from scim.responses import scim_response
from scim.server import Call, Handler, dispatch

BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

# (method, resource kind, whether the path names one resource) -> handler
Routes = dict[tuple[str, bool], Handler]

_KINDS = {"users": "user", "groups": "group"}


def bulk(call: Call, routes: Routes) -> Response:
    body = call.json_object()
    operations = _field(body, "Operations")
    if not isinstance(operations, list):
        raise ScimError(400, "invalidSyntax", "A BulkRequest needs an Operations list.")
    limit = call.server.settings.scim_bulk_max_operations
    if len(operations) > limit:
        raise ScimError(
            413, None, f"A BulkRequest may carry at most {limit} operations (maxOperations)."
        )
    fail_on_errors = _field(body, "failOnErrors")
    if fail_on_errors is not None and (
        not isinstance(fail_on_errors, int) or isinstance(fail_on_errors, bool)
    ):
        raise ScimError(400, "invalidSyntax", "failOnErrors must be an integer.")
    created: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    errors = 0
    for operation in operations:
        if fail_on_errors and errors >= fail_on_errors:
            break
        result = _run(call, routes, operation, created)
        if int(result["status"]) >= 400:
            errors += 1
        results.append(result)
    return scim_response({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": results})


def _run(call: Call, routes: Routes, operation: Any, created: dict[str, str]) -> dict[str, Any]:
    if not isinstance(operation, dict):
        return _failed(None, None, ScimError(400, "invalidSyntax", "Each operation is an object."))
    method = str(_field(operation, "method") or "").upper()
    bulk_id = _field(operation, "bulkId")
    try:
        path = _field(operation, "path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ScimError(400, "invalidSyntax", "Each operation needs a path like /Users.")
        if method == "POST" and not isinstance(bulk_id, str):
            raise ScimError(400, "invalidSyntax", "A POST operation needs a bulkId.")
        path = _resolve(path, created)
        data = json.loads(_resolve(json.dumps(_field(operation, "data")), created))
        parts = [p for p in path.split("/") if p]
        kind = _KINDS.get(parts[0].lower()) if parts else None
        if kind is None or len(parts) > 2:
            raise ScimError(404, None, f"No bulk target {quote(path)}.")
        handler = routes.get((method, len(parts) == 2))
        if handler is None:
            raise ScimError(400, "invalidSyntax", f"Method {quote(method)} is not allowed there.")
        params = {"kind": kind, **({"id": parts[1]} if len(parts) == 2 else {})}
        version = _field(operation, "version")
        headers = {"if-match": version} if isinstance(version, str) else {}
        inner = Call(
            server=call.server,
            tenant_id=call.tenant_id,
            method=method,
            path_params=params,
            query={},
            headers=headers,
            body=data,
        )
    except ScimError as error:
        return _failed(method, bulk_id, error)
    response = dispatch(handler, inner)
    result: dict[str, Any] = {"method": method, "status": str(response.status_code)}
    if bulk_id is not None:
        result["bulkId"] = bulk_id
    answer = json.loads(bytes(response.body)) if response.body else None
    if response.status_code >= 400:
        result["response"] = answer
        return result
    if isinstance(answer, dict) and "meta" in answer:
        result["location"] = answer["meta"].get("location")
        result["version"] = answer["meta"].get("version")
        if method == "POST" and isinstance(bulk_id, str):
            created[bulk_id] = answer["id"]
    elif method != "POST":
        result["location"] = f"{call.server.base_url}{path}"
    return result


def _resolve(text: str, created: dict[str, str]) -> str:
    """Replace ``bulkId:<id>`` references by the ids of created resources."""
    if "bulkId:" not in text:
        return text
    out: list[str] = []
    rest = text
    while "bulkId:" in rest:
        before, _, after = rest.partition("bulkId:")
        end = 0
        while end < len(after) and (after[end].isalnum() or after[end] in "-_."):
            end += 1
        reference = after[:end]
        if reference not in created:
            raise ScimError(
                400, "invalidValue", f"bulkId {quote(reference)} names no resource created so far."
            )
        out.append(before + created[reference])
        rest = after[end:]
    out.append(rest)
    return "".join(out)


def _failed(method: str | None, bulk_id: Any, error: ScimError) -> dict[str, Any]:
    result: dict[str, Any] = {"status": str(error.status), "response": error.to_dict()}
    if method:
        result["method"] = method
    if bulk_id is not None:
        result["bulkId"] = bulk_id
    return result


def _field(body: dict[str, Any], name: str) -> Any:
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None
