"""A synchronous test client for the admin API that checks every answer against the document.

Each response is validated against the schema the OpenAPI document declares
for its route and status, so a test that exercises a route also proves the
document describes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.admin import ENDPOINTS, build_admin_app
from gateway.admin.endpoint import Endpoint
from gateway.services import Services

PREFIX = "/api/v1"


def _pattern(endpoint: Endpoint) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"{\w+}", "[^/]+", PREFIX + endpoint.path) + "$")


_ROUTES = [(endpoint, _pattern(endpoint)) for endpoint in ENDPOINTS]


def endpoint_for(method: str, path: str) -> Endpoint | None:
    for endpoint, pattern in _ROUTES:
        if endpoint.method == method and pattern.match(path):
            return endpoint
    return None


class AdminClient:
    """Drives the admin app (mounted at ``/api/v1``, as in production) over ASGI."""

    def __init__(self, services: Services, token: str | None = None) -> None:
        self.app = Starlette(routes=[Mount(PREFIX, app=build_admin_app(services))])
        self.token = token
        self.document: dict[str, Any] = self.raw("GET", "/openapi.json").json()

    def as_token(self, token: str | None) -> AdminClient:
        other = object.__new__(AdminClient)
        other.app, other.document, other.token = self.app, self.document, token
        return other

    def raw(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request, with no schema check (for malformed requests)."""
        all_headers = dict(headers or {})
        if self.token is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.request(method, PREFIX + path, headers=all_headers, **kwargs)

        return anyio.run(send)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request whose answer must match the document."""
        response = self.raw(method, path, **kwargs)
        self.check(method, PREFIX + path.split("?")[0], response)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def check(self, method: str, full_path: str, response: httpx.Response) -> None:
        """Fail unless the document declares this status for the route and the body fits."""
        endpoint = endpoint_for(method, full_path)
        assert endpoint is not None, f"no registered route for {method} {full_path}"
        operation = self.document["paths"][endpoint.path][method.lower()]
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, (
            f"{method} {endpoint.path} answered {response.status_code}, "
            f"which the document does not declare: {response.text}"
        )
        content = declared.get("content")
        if content is None:
            assert response.content == b""
            return
        schema = {**content["application/json"]["schema"], **self._components()}
        errors = sorted(
            Draft202012Validator(schema).iter_errors(response.json()), key=lambda e: e.path
        )
        assert not errors, f"{method} {endpoint.path}: {[e.message for e in errors]}"

    def _components(self) -> dict[str, Any]:
        return {"components": self.document["components"]}
