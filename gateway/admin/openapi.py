"""The OpenAPI 3.1 document of the admin API, generated from the route registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.admin.endpoint import HEX_PARAMS, Endpoint
from gateway.admin.fields import HEX_ID_PATTERN, ID_PATTERN
from gateway.admin.schemas import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
_REASONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked admin token",
    403: "Needs an operator token",
    404: "Not found (or a tenant this token may not see)",
    409: "Name already taken",
    413: "Request body too large",
    415: "Request body is not JSON",
    422: "Invalid input; details name the fields",
}


def build_document(endpoints: Sequence[Endpoint], *, version: str = "1") -> dict[str, Any]:
    """The OpenAPI document describing ``endpoints`` (paths relative to ``/api/v1``)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.response is not None:
            models.append((endpoint.response, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, refs)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Timus gateway admin API", "version": version},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(
    endpoint: Endpoint, refs: Mapping[tuple[Any, JsonSchemaMode], Any]
) -> dict[str, Any]:
    error_ref = refs[(ErrorBody, "serialization")]
    responses: dict[str, Any] = {}
    if endpoint.response is None:
        responses[str(endpoint.status)] = {"description": "Done"}
    else:
        responses[str(endpoint.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": refs[(endpoint.response, "serialization")]}},
        }
    for status in endpoint.error_statuses:
        responses[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": error_ref}},
        }
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "parameters": _path_parameters(endpoint) + _query_parameters(endpoint),
        "responses": responses,
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    return operation


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": HEX_ID_PATTERN if name in HEX_PARAMS else ID_PATTERN,
            },
        }
        for name in endpoint.path_params
    ]


def _query_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    if endpoint.query is None:
        return []
    schema = endpoint.query.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": _without_null(prop),
        }
        for name, prop in schema["properties"].items()
    ]


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    # An absent query parameter is how a client says "none"; JSON null has no
    # spelling in a query string, so the document leaves it out.
    schema = {k: v for k, v in prop.items() if k not in {"description", "title", "default"}}
    branches = [b for b in schema.pop("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    return schema
