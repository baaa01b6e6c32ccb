"""A plain client for the fake's own tests and the benchmark: token, then pages to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp

from tests.fakes.entra.state import App, Tenant


class FakeClient:
    """Synchronous calls into the ASGI app through ``httpx.ASGITransport``."""

    def __init__(self, app: ASGIApp, base_url: str = "https://graph.fake.test") -> None:
        self.app = app
        self.base_url = base_url
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, headers=headers, **kwargs)

        return anyio.run(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def token_response(
        self, tenant: str, client_id: str, secret: str, scope: str | None = None
    ) -> httpx.Response:
        return self.post(
            f"/{tenant}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": scope or f"{self.base_url}/.default",
            },
        )

    def sign_in(self, tenant: Tenant, app: App) -> str:
        """Get a token for ``app`` and send it with every later request."""
        response = self.token_response(tenant.id, app.client_id, app.secrets[-1].value)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        self.headers["Authorization"] = f"Bearer {token}"
        return token

    def pages(self, url: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` verbatim."""
        next_url: str | None = url
        while next_url is not None:
            response = self.get(next_url, **kwargs)
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            yield page
            next_url = page.get("@odata.nextLink")

    def collect(self, url: str, **kwargs: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """All items of every page, and the last page (which holds a delta link, if any)."""
        items: list[dict[str, Any]] = []
        last: dict[str, Any] = {}
        for page in self.pages(url, **kwargs):
            items.extend(page["value"])
            last = page
        return items, last
