"""The fake as an ASGI app handed to ``httpx.AsyncClient``, as the Graph client's tests use it."""

from __future__ import annotations

import anyio
import httpx
from starlette.applications import Starlette

from tests.fakes.entra import Tenant


def test_async_client_over_asgi_transport(entra_app: Starlette, entra_tenant: Tenant) -> None:
    app = next(iter(entra_tenant.apps.values()))
    group = entra_tenant.create_group("Engineering")
    entra_tenant.add_member(group["id"], entra_tenant.create_user("Grace")["id"])

    async def run() -> list[str]:
        transport = httpx.ASGITransport(app=entra_app)
        base = "https://graph.example.test"
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            token = await client.post(
                f"/{entra_tenant.id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app.client_id,
                    "client_secret": app.secrets[0].value,
                    "scope": f"{base}/.default",
                },
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            members = await client.get(
                f"/v1.0/groups/{group['id']}/members/microsoft.graph.user?$select=displayName"
            )
            return [m["displayName"] for m in members.json()["value"]]

    assert anyio.run(run) == ["Grace"]
