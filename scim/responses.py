"""SCIM responses: ``application/scim+json`` bodies and RFC 7644 §3.12 errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from scim.errors import ScimError

SCIM_MEDIA_TYPE = "application/scim+json"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


# json.dumps builds an encoder on every call when given options; one is enough.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(body: Any) -> str:
    """Compact JSON, non-ASCII kept as is (the body is UTF-8)."""
    return _ENCODER.encode(body)


def scim_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A SCIM JSON response; ``body`` may already be JSON text."""
    text = body if isinstance(body, str) else dumps(body)
    return Response(
        text.encode("utf-8"), status_code=status, headers=headers, media_type=SCIM_MEDIA_TYPE
    )


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A response without a body (204, 304)."""
    return Response(status_code=status, headers=headers)


def error_response(error: ScimError, headers: Mapping[str, str] | None = None) -> Response:
    """The RFC 7644 §3.12 error body with its HTTP status."""
    return scim_response(error.to_dict(), error.status, headers)


def list_response(resources: list[str], total: int, start_index: int) -> str:
    """A ListResponse (RFC 7644 §3.4.2) from resources already rendered as JSON text."""
    return (
        f'{{"schemas":["{LIST_RESPONSE_SCHEMA}"],"totalResults":{total},'
        f'"itemsPerPage":{len(resources)},"startIndex":{start_index},'
        f'"Resources":[{",".join(resources)}]}}'
    )
