"""The Graph client can only read: anything else is refused before it leaves the process."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from gateway.graph.client import GraphClient
from gateway.graph.errors import WriteRefusedError
from gateway.graph.http import ReadOnlyTransport, check_read_only
from tests.graph.conftest import GRAPH


class Recording(httpx.BaseTransport):
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={"responses": []})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_every_method_but_get_is_refused_before_sending(method: str) -> None:
    inner = Recording()
    http = httpx.Client(transport=ReadOnlyTransport(inner))

    with pytest.raises(WriteRefusedError):
        http.request(method, f"{GRAPH}/v1.0/users/abc", json={"accountEnabled": False})

    assert inner.sent == []


def test_a_batch_of_gets_passes_and_one_write_inside_a_batch_is_refused() -> None:
    inner = Recording()
    http = httpx.Client(transport=ReadOnlyTransport(inner))
    reads = {"requests": [{"id": "1", "method": "GET", "url": "/users/a"}]}
    sneaky = {
        "requests": [
            {"id": "1", "method": "GET", "url": "/users/a"},
            {"id": "2", "method": "delete", "url": "/users/b"},
        ]
    }

    http.post(f"{GRAPH}/v1.0/$batch", json=reads)
    with pytest.raises(WriteRefusedError):
        http.post(f"{GRAPH}/v1.0/$batch", json=sneaky)
    with pytest.raises(WriteRefusedError):
        http.post(f"{GRAPH}/v1.0/$batch", content=b"not json")
    with pytest.raises(WriteRefusedError):
        http.post(f"{GRAPH}/v1.0/users/$batchx", json=reads)

    assert [json.loads(r.content) for r in inner.sent] == [reads]


def test_the_graph_client_sends_its_writes_nowhere(
    client: GraphClient, entra: respx.MockRouter
) -> None:
    graph = entra.route(host="graph.test").respond(200, json={})

    with pytest.raises(WriteRefusedError):
        client._send("PATCH", f"{GRAPH}/v1.0/users/abc", json_body={"displayName": "x"})
    with pytest.raises(WriteRefusedError):
        client._http.delete(f"{GRAPH}/v1.0/groups/abc")

    assert graph.call_count == 0


def test_check_read_only_accepts_plain_gets() -> None:
    check_read_only(httpx.Request("GET", f"{GRAPH}/v1.0/users"))
