"""A synchronous SCIM test client over ASGI, and Entra-shaped sample payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.store.scim_identity import IdentityApplier

PREFIX = "/scim/v2"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    """Drives the SCIM app mounted at ``/scim/v2`` as in production."""

    def __init__(self, app: Starlette, token: str | None, applier: IdentityApplier) -> None:
        self.app = Starlette(routes=[Mount(PREFIX, app=app)])
        self.scim_app = app
        self.token = token
        self.applier = applier

    def as_token(self, token: str | None) -> ScimClient:
        return ScimClient(self.scim_app, token, self.applier)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = {"Content-Type": SCIM_JSON} if "json" in kwargs else {}
        if self.token is not None:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        if "json" in kwargs:
            import json

            kwargs["content"] = json.dumps(kwargs.pop("json")).encode()

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.request(method, PREFIX + path, headers=all_headers, **kwargs)

        return anyio.run(send)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def patch(self, path: str, operations: list[dict[str, Any]], **kwargs: Any) -> httpx.Response:
        return self.request(
            "PATCH", path, json={"schemas": [PATCH_OP], "Operations": operations}, **kwargs
        )

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def settle(self) -> None:
        """Wait until the identity applier has applied every change so far."""
        self.applier.flush()


def entra_user(name: str, *, object_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A user as the Entra provisioning service POSTs it ("Develop a SCIM endpoint
    for user provisioning to apps from Microsoft Entra ID", create user request)."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": object_id or name,
        "userName": f"{name}@contoso.com",
        "active": True,
        "displayName": name.title(),
        "emails": [{"primary": True, "type": "work", "value": f"{name}@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": name.title(), "familyName": name.title(), "givenName": name},
        "roles": [],
    }
    body.update(extra)
    return body


def entra_group(name: str, members: list[str] | None = None) -> dict[str, Any]:
    """A group as Entra POSTs it (with Microsoft's own schema URI, which is ignored)."""
    return {
        "schemas": [
            GROUP_SCHEMA,
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
        ],
        "externalId": name,
        "displayName": name,
        "meta": {"resourceType": "Group"},
        "members": [{"value": m} for m in members or []],
    }
