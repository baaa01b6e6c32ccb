"""``/ServiceProviderConfig``, ``/ResourceTypes`` and ``/Schemas`` (RFC 7644 §4)."""

from __future__ import annotations

from starlette.responses import Response

from scim.errors import ScimError, quote
from scim.responses import dumps, list_response, scim_response
from scim.server import Call


def service_provider_config(call: Call) -> Response:
    return scim_response(call.server.discovery.service_provider_config)


def resource_types(call: Call) -> Response:
    items = [dumps(item) for item in call.server.discovery.resource_types.values()]
    return scim_response(list_response(items, len(items), 1))


def resource_type(call: Call) -> Response:
    wanted = call.path_params["name"]
    for name, item in call.server.discovery.resource_types.items():
        if name.lower() == wanted.lower():
            return scim_response(item)
    raise ScimError(404, None, f"No resource type {quote(wanted)}.")


def schemas(call: Call) -> Response:
    items = [dumps(item) for item in call.server.discovery.schemas.values()]
    return scim_response(list_response(items, len(items), 1))


def schema(call: Call) -> Response:
    wanted = call.path_params["urn"]
    for urn, item in call.server.discovery.schemas.items():
        if urn.lower() == wanted.lower():
            return scim_response(item)
    raise ScimError(404, None, f"No schema {quote(wanted)}.")
