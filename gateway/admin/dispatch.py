"""Turns an :class:`Endpoint` into a Starlette route: authenticate, scope, parse, run, render.

The order matters: the token is checked first (401), then the tenant it may
see (404 for any other tenant, so existence is not revealed), and only then
the request itself, so a foreign tenant never learns whether a body was valid.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.admin.endpoint import HEX_PARAMS, INT_PARAMS, Call, Endpoint
from gateway.errors import (
    BadRequestError,
    ForbiddenError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from gateway.services import Services
from gateway.store.tenants import get_tenant
from gateway.store.tokens import TokenRecord, authenticate

logger = logging.getLogger("gateway.admin")

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_INT_ID = re.compile(r"^[1-9][0-9]{0,17}$")
_BEARER = re.compile(r"^Bearer +(\S+) *$", re.IGNORECASE)


def build_route(endpoint: Endpoint, services: Services) -> Route:
    """The Starlette route serving ``endpoint``."""

    async def serve(request: Request) -> Response:
        token = await _authenticate(request, services)
        path = _parse_path(endpoint, request.path_params)
        if endpoint.operator_only and not token.is_operator:
            raise ForbiddenError(f"{endpoint.summary}: this needs an operator token.")
        if endpoint.tenant_scoped:
            await run_in_threadpool(_check_tenant, services, token, str(path["tenant_id"]))
        query = _parse_query(endpoint.query, request.query_params)
        body = await _parse_body(endpoint.body, request, services.settings.max_body_bytes)
        call = Call(services=services, token=token, path=path, body=body, query=query)
        result = await run_in_threadpool(endpoint.handler, call)
        logger.debug(
            "admin %s %s -> %s by token %s",
            endpoint.method,
            endpoint.path,
            endpoint.status,
            token.id,
        )
        return _render(endpoint, result)

    return Route(endpoint.path, serve, methods=[endpoint.method], name=endpoint.name)


async def _authenticate(request: Request, services: Services) -> TokenRecord:
    header = request.headers.get("authorization")
    if header is None:
        raise UnauthorizedError("Send an admin token as 'Authorization: Bearer <token>'.")
    match = _BEARER.fullmatch(header)
    if match is None:
        raise UnauthorizedError(
            "The Authorization header must be 'Bearer <token>'.", invalid_token=True
        )
    token = await run_in_threadpool(authenticate, services.engine, match.group(1), "admin")
    if token is None:
        raise UnauthorizedError(
            "The admin token is unknown or revoked; create a new one with "
            "`timus-gateway token create --kind admin`.",
            invalid_token=True,
        )
    return token


def _parse_path(endpoint: Endpoint, raw: Mapping[str, Any]) -> dict[str, str | int]:
    parsed: dict[str, str | int] = {}
    for name in endpoint.path_params:
        value = str(raw[name])
        if name in HEX_PARAMS and _HEX_ID.fullmatch(value):
            parsed[name] = value
        elif name in INT_PARAMS and _INT_ID.fullmatch(value):
            parsed[name] = int(value)
        else:
            raise NotFoundError(f"No {name.removesuffix('_id')} with id {value!r}.")
    return parsed


def _check_tenant(services: Services, token: TokenRecord, tenant_id: str) -> None:
    # A tenant-bound token gets the same 404 for another tenant as for a
    # tenant that does not exist. Its own tenant exists: deleting a tenant
    # deletes its tokens.
    if token.tenant_id is not None:
        if token.tenant_id != tenant_id:
            raise NotFoundError(f"No tenant with id {tenant_id!r}.")
        return
    if get_tenant(services.engine, tenant_id) is None:
        raise NotFoundError(f"No tenant with id {tenant_id!r}.")


def _parse_query(model: type[BaseModel] | None, params: Mapping[str, str]) -> BaseModel | None:
    if model is None:
        return None
    bad = sorted(name for name, value in params.items() if "\x00" in name or "\x00" in value)
    if bad:
        raise ValidationFailedError(
            "Query parameters must not contain NUL characters.",
            details=[{"field": name, "message": "unstorable text"} for name in bad],
        )
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise ValidationFailedError(
            "Invalid query parameters: " + _summary(exc), details=_field_errors(exc)
        ) from None


async def _parse_body(
    model: type[BaseModel] | None, request: Request, limit: int
) -> BaseModel | None:
    if model is None:
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError(
            "Send the request body as JSON with 'Content-Type: application/json'."
        )
    raw = await _read_limited(request, limit)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedJsonError("The request body is not valid JSON.") from None
    bad_field = _unstorable_text(data, "")
    if bad_field is not None:
        raise ValidationFailedError(
            "Text must not contain NUL characters or unpaired surrogates.",
            details=[{"field": bad_field or "(body)", "message": "unstorable text"}],
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailedError(
            "Invalid request body: " + _summary(exc), details=_field_errors(exc)
        ) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    too_large = PayloadTooLargeError(f"The request body is larger than {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequestError("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_large
    # Content-Length may be absent (chunked) or wrong: count what arrives.
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > limit:
            raise too_large
    return bytes(received)


def _unstorable_text(data: Any, where: str) -> str | None:
    """The location of the first string the database cannot store, if any.

    PostgreSQL refuses NUL characters and no UTF-8 encoder takes a lone
    surrogate; caught here, they are a 422 instead of a database error.
    """
    if isinstance(data, str):
        if "\x00" in data:
            return where
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            inner = f"{where}.{key}" if where else str(key)
            found = _unstorable_text(key, inner)
            if found is None:
                found = _unstorable_text(value, inner)
            if found is not None:
                return found
    if isinstance(data, list):
        for index, value in enumerate(data):
            found = _unstorable_text(value, f"{where}.{index}" if where else str(index))
            if found is not None:
                return found
    return None


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    # Never echo the submitted value: it may be a secret.
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "(body)",
            "message": error["msg"].removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in _field_errors(exc)[:5])


def _render(endpoint: Endpoint, result: BaseModel | None) -> Response:
    if endpoint.response is None:
        return Response(status_code=endpoint.status)
    if not isinstance(result, endpoint.response):
        raise TypeError(f"{endpoint.name} returned {type(result).__name__}")
    return JSONResponse(result.model_dump(mode="json"), status_code=endpoint.status)
