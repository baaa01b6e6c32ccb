"""Malformed requests on every route: always a 4xx JSON error, never a 5xx, never a change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.admin import ENDPOINTS, build_admin_app
from gateway.admin.endpoint import HEX_PARAMS, INT_PARAMS, Endpoint
from gateway.services import Services
from tests.admin.conftest import MAX_BODY_BYTES, Ids, Tenant, populate, snapshot

WITH_BODY = [e for e in ENDPOINTS if e.body is not None]
WITH_IDS = [e for e in ENDPOINTS if set(e.path_params) - {"tenant_id"}]
BODY_ROUTES = pytest.mark.parametrize("endpoint", WITH_BODY, ids=[e.name for e in WITH_BODY])


@pytest.fixture
def ids(services: Services, acme: Tenant) -> Ids:
    return populate(services, acme.id)


def path_of(endpoint: Endpoint, ids: Ids, **overrides: str) -> str:
    return endpoint.path.format(**{**ids.path_values(), **overrides})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


@BODY_ROUTES
@pytest.mark.parametrize("raw", [b"{", b"{'name': 1}", b"", b"\xff\xfe", b"[1,]"])
def test_malformed_json_is_400(
    services: Services, acme: Tenant, operator: Any, ids: Ids, endpoint: Endpoint, raw: bytes
) -> None:
    before = snapshot(services.engine)

    response = _client_for(endpoint, acme, operator).request(
        endpoint.method,
        path_of(endpoint, ids),
        content=raw,
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 400, "malformed_json")
    assert snapshot(services.engine) == before


def _client_for(endpoint: Endpoint, acme: Tenant, operator: Any) -> Any:
    return operator if endpoint.operator_only else acme.admin


@BODY_ROUTES
@pytest.mark.parametrize(
    "body",
    [[], "text", 5, None, {}, {"surprise": 1}],
    ids=["list", "str", "int", "null", "empty", "extra"],
)
def test_wrong_shapes_are_422(
    services: Services, acme: Tenant, operator: Any, ids: Ids, endpoint: Endpoint, body: Any
) -> None:
    before = snapshot(services.engine)

    response = _client_for(endpoint, acme, operator).request(
        endpoint.method,
        path_of(endpoint, ids),
        content=json.dumps(body),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert_error(response, 422, "validation_failed")
    assert isinstance(response.json()["error"]["details"], list)
    assert snapshot(services.engine) == before


@BODY_ROUTES
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(
    services: Services,
    acme: Tenant,
    operator: Any,
    ids: Ids,
    endpoint: Endpoint,
    content_type: str | None,
) -> None:
    before = snapshot(services.engine)
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = _client_for(endpoint, acme, operator).request(
        endpoint.method, path_of(endpoint, ids), content=b'{"name": "x"}', headers=headers
    )

    assert_error(response, 415, "unsupported_media_type")
    assert snapshot(services.engine) == before


def _oversized() -> bytes:
    return b'{"name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'


@BODY_ROUTES
def test_oversized_body_is_413(
    services: Services, acme: Tenant, operator: Any, ids: Ids, endpoint: Endpoint
) -> None:
    before = snapshot(services.engine)

    response = _client_for(endpoint, acme, operator).request(
        endpoint.method,
        path_of(endpoint, ids),
        content=_oversized(),
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 413, "payload_too_large")
    assert snapshot(services.engine) == before


async def _chunks() -> AsyncIterator[bytes]:
    body = _oversized()
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


@BODY_ROUTES
def test_oversized_body_without_or_with_false_content_length_is_413(
    services: Services, acme: Tenant, operator: Any, ids: Ids, endpoint: Endpoint
) -> None:
    client = _client_for(endpoint, acme, operator)
    before = snapshot(services.engine)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {client.token}"}

    async def send(content: Any, extra: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.request(
                endpoint.method,
                "/api/v1" + path_of(endpoint, ids),
                content=content,
                headers={**headers, **extra},
            )

    chunked = anyio.run(send, _chunks(), {})
    lying = anyio.run(send, _oversized(), {"Content-Length": "20"})

    for response in (chunked, lying):
        client.check(endpoint.method, "/api/v1" + path_of(endpoint, ids), response)
        assert_error(response, 413, "payload_too_large")
    assert snapshot(services.engine) == before


def _bad_values(name: str) -> Iterator[str]:
    if name in INT_PARAMS:
        yield from ["abc", "0", "-1", "1.5", "01", "99999999999999999999999", "%20"]
    if name in HEX_PARAMS:
        yield from ["abc", "A" * 32, "0" * 31, "0" * 33]


@pytest.mark.parametrize(
    ("endpoint", "name", "value"),
    [(e, name, value) for e in ENDPOINTS for name in e.path_params for value in _bad_values(name)],
    ids=lambda v: v.name if isinstance(v, Endpoint) else str(v),
)
def test_malformed_ids_are_404(
    services: Services,
    acme: Tenant,
    ids: Ids,
    endpoint: Endpoint,
    name: str,
    value: str,
) -> None:
    before = snapshot(services.engine)
    path = path_of(endpoint, ids, **{name: value})

    response = acme.admin.raw(endpoint.method, path, json=None)

    assert_error(response, 404, "not_found")
    assert snapshot(services.engine) == before


def test_unknown_route_and_wrong_method_are_json_errors(acme: Tenant) -> None:
    unknown = acme.admin.raw("GET", "/nope")
    wrong = acme.admin.raw("PATCH", f"/tenants/{acme.id}")

    assert_error(unknown, 404, "not_found")
    assert_error(wrong, 405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]


def test_wrong_method_names_every_method_the_path_takes(acme: Tenant) -> None:
    wrong = acme.admin.raw("PATCH", f"/tenants/{acme.id}/teams")

    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, HEAD, POST"


def test_unexpected_failure_is_a_bare_500(
    services: Services, acme: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("internal detail: SELECT * FROM secrets")

    monkeypatch.setattr("gateway.admin.routes.sites.list_sites", explode)
    app = Starlette(routes=[Mount("/api/v1", app=build_admin_app(services))])

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.get(
                f"/api/v1/tenants/{acme.id}/sites",
                headers={"Authorization": f"Bearer {acme.admin.token}"},
            )

    response = anyio.run(send)

    assert_error(response, 500, "internal_error")
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text


@BODY_ROUTES
@pytest.mark.parametrize("text", ["a\\u0000b", "a\\ud800b"], ids=["nul", "surrogate"])
def test_unstorable_text_is_422(
    services: Services, acme: Tenant, operator: Any, ids: Ids, endpoint: Endpoint, text: str
) -> None:
    before = snapshot(services.engine)
    raw = "{" + ", ".join(f'"{key}": "{text}"' for key in ("name", "kind", "tenant_id")) + "}"

    response = _client_for(endpoint, acme, operator).request(
        endpoint.method,
        path_of(endpoint, ids),
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 422, "validation_failed")
    assert snapshot(services.engine) == before


@pytest.mark.parametrize("params", [{"tag": "a\x00b"}, {"team": "x\x00"}, {"tag": "x" * 101}])
def test_unstorable_or_long_filters_are_422(
    services: Services, acme: Tenant, params: dict[str, str]
) -> None:
    response = acme.admin.get(f"/tenants/{acme.id}/users", params=params)

    assert_error(response, 422, "validation_failed")
