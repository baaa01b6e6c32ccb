"""Builds Graph clients for an integration: the one seam tests replace with the fake Entra.

Production talks to the real login and Graph hosts over TLS (public roots plus
an operator's private CA); tests pass the fake's ASGI app as the transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from gateway.clouds import Cloud, endpoints_for
from gateway.crypto import Secret
from gateway.graph.client import GraphClient
from gateway.graph.http import ReadOnlyTransport, ssl_context
from gateway.graph.tokens import TokenSource

TransportFactory = Callable[[], httpx.BaseTransport]


@dataclass(frozen=True, slots=True)
class GraphConnector:
    """How to reach Entra: timeouts, retry budget, TLS trust, and (in tests) a transport."""

    timeout_seconds: float = 60.0
    retry_budget_seconds: float = 300.0
    ca_bundle: str | None = None
    transport_factory: TransportFactory | None = field(default=None, compare=False)
    sleep: Callable[[float], None] | None = field(default=None, compare=False)

    def client(
        self, cloud: Cloud, entra_tenant_id: str, client_id: str, client_secret: Secret
    ) -> GraphClient:
        """A Graph client for one integration, with a token source of its own."""
        endpoints = endpoints_for(cloud)
        login_http = self._http(read_only=False)
        tokens = TokenSource(endpoints, entra_tenant_id, client_id, client_secret, login_http)
        kwargs = {} if self.sleep is None else {"sleep": self.sleep}
        return GraphClient(
            self._http(read_only=True),
            tokens,
            endpoints.graph_v1,
            retry_budget_seconds=self.retry_budget_seconds,
            **kwargs,
        )

    def _http(self, *, read_only: bool) -> httpx.Client:
        timeout = httpx.Timeout(self.timeout_seconds)
        if self.transport_factory is not None:
            inner: httpx.BaseTransport = self.transport_factory()
        else:
            inner = httpx.HTTPTransport(verify=ssl_context(self.ca_bundle), retries=0)
        # Only the token endpoint may receive a POST; Graph gets reads alone.
        transport = ReadOnlyTransport(inner) if read_only else inner
        return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
