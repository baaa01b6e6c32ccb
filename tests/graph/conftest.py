"""Narrow cases of the Graph client, with respx standing in for the two hosts."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret
from gateway.graph.client import GraphClient
from gateway.graph.connector import GraphConnector

LOGIN = "https://login.test"
GRAPH = "https://graph.test"
TENANT = "8f0e1c2a-1111-4a2b-9c3d-0123456789ab"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
CLOUD = CloudEndpoints(LOGIN, GRAPH)


def jwt(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def entra() -> Iterator[respx.MockRouter]:
    """The login host answering discovery and issuing tokens with both roles."""
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration").respond(
            json={
                "token_endpoint": f"{LOGIN}/{TENANT}/oauth2/v2.0/token",
                "authorization_endpoint": f"{LOGIN}/{TENANT}/oauth2/v2.0/authorize",
                "issuer": f"{LOGIN}/{TENANT}/v2.0",
            }
        )
        issue_token(router, ("User.Read.All", "Group.Read.All"))
        yield router


def issue_token(router: respx.MockRouter, roles: tuple[str, ...]) -> respx.Route:
    return router.post(f"{LOGIN}/{TENANT}/oauth2/v2.0/token", name="token").mock(
        side_effect=lambda _request: httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": jwt({"roles": list(roles), "tid": TENANT}),
            },
        )
    )


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(entra: respx.MockRouter, sleeps: Sleeps) -> Iterator[GraphClient]:
    connector = GraphConnector(retry_budget_seconds=60, sleep=sleeps)
    graph = connector.client(CLOUD, TENANT, CLIENT_ID, Secret("the-secret-value"))
    yield graph
    graph.close()
