from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from gateway.admin import ENDPOINTS
from gateway.admin.openapi import REF_TEMPLATE
from tests.admin.client import AdminClient


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[-1]
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def test_document_lists_exactly_the_registered_routes(operator: AdminClient) -> None:
    document = operator.document
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }

    assert documented == {(e.method, e.path) for e in ENDPOINTS}
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_operation_declares_auth_errors_and_its_success(operator: AdminClient) -> None:
    for endpoint in ENDPOINTS:
        operation = operator.document["paths"][endpoint.path][endpoint.method.lower()]
        responses = operation["responses"]
        assert str(endpoint.status) in responses
        assert "401" in responses
        if endpoint.tenant_scoped:
            assert "404" in responses
        params = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert params == set(endpoint.path_params)


def test_schemas_come_from_the_models_the_routes_use(operator: AdminClient) -> None:
    document = operator.document
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        if endpoint.body is not None:
            documented = operation["requestBody"]["content"]["application/json"]["schema"]
            _, defs = models_json_schema([(endpoint.body, "validation")], ref_template=REF_TEMPLATE)
            name = documented["$ref"].rsplit("/", 1)[-1]
            assert _resolve(document, documented) == defs["$defs"][name]
        if endpoint.response is not None:
            ok = operation["responses"][str(endpoint.status)]
            documented = ok["content"]["application/json"]["schema"]
            assert documented["$ref"].endswith("/" + endpoint.response.__name__)


def test_request_schemas_forbid_unknown_fields_and_secret_is_write_only(
    operator: AdminClient,
) -> None:
    schemas = operator.document["components"]["schemas"]

    for endpoint in ENDPOINTS:
        if endpoint.body is not None:
            assert schemas[endpoint.body.__name__]["additionalProperties"] is False
    secret = schemas["IntegrationPut"]["properties"]["client_secret"]
    assert secret["writeOnly"] is True
    assert "client_secret" not in schemas["IntegrationOut"]["properties"]


def test_query_parameters_of_the_user_listing_are_documented(operator: AdminClient) -> None:
    operation = operator.document["paths"]["/tenants/{tenant_id}/users"]["get"]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}

    assert set(query) == {"email", "tag", "team", "active", "cursor", "limit"}
    assert query["active"]["schema"] == {"enum": ["true", "false"], "type": "string"}
