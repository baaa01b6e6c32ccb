"""Pointing the gateway's Graph connector at the Entra fake (in process or served)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from gateway.graph.connector import GraphConnector
from tests.fakes.entra import App, EntraState, Secret, Tenant


class SyncASGITransport(httpx.BaseTransport):
    """The fake's ASGI app as a synchronous httpx transport (the gateway's clients are sync)."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async_request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(async_request)
            content = await response.aread()
            return response.status_code, list(response.headers.raw), content

        status, headers, content = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)


@contextmanager
def in_process_connector(
    app: ASGIApp, *, retry_budget_seconds: float = 30.0
) -> Iterator[GraphConnector]:
    """A connector whose every request goes to ``app`` (no network, no real waiting)."""
    with start_blocking_portal() as portal:
        yield GraphConnector(
            retry_budget_seconds=retry_budget_seconds,
            transport_factory=lambda: SyncASGITransport(app, portal),
            sleep=lambda _seconds: None,
        )


def app_with_secret(
    tenant: Tenant,
    client_id: str,
    secret_value: str,
    roles: tuple[str, ...] = ("User.Read.All", "Group.Read.All"),
) -> App:
    """Register an app whose secret has a value chosen by the test."""
    app = tenant.add_app(roles=roles, client_id=client_id)
    app.secrets[:] = [
        Secret(
            "secret-id-" + client_id[:8],
            secret_value,
            tenant.state.clock.now() + timedelta(days=365),
        )
    ]
    return app


def tenant_named(state: EntraState, tenant_id: str, domain: str | None = None) -> Tenant:
    found = state.find_tenant(tenant_id)
    return found if found is not None else state.add_tenant("Contoso", domain, tenant_id)


__all__ = ["SyncASGITransport", "anyio", "app_with_secret", "in_process_connector", "tenant_named"]
