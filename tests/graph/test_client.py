"""Paging, retries, ``$batch`` and error translation of the Graph client."""

from __future__ import annotations

import httpx
import pytest
import respx

from gateway.graph.client import GraphClient
from gateway.graph.errors import (
    DeltaExpiredError,
    GraphRequestError,
    MissingPermissionError,
    NotFoundError,
    ThrottledError,
)
from tests.graph.conftest import GRAPH, Sleeps, issue_token

V1 = f"{GRAPH}/v1.0"


def test_pages_follow_next_links_verbatim(client: GraphClient, entra: respx.MockRouter) -> None:
    odd_link = f"{V1}/users?$skiptoken=X%2Fy%3D%3D&$select=id"
    first = entra.get(f"{V1}/users?$select=id&$top=999").respond(
        json={"value": [{"id": "1"}], "@odata.nextLink": odd_link}
    )
    second = entra.get(odd_link).respond(json={"value": [{"id": "2"}]})

    pages = list(client.pages("/users?$select=id&$top=999"))

    assert [p["value"] for p in pages] == [[{"id": "1"}], [{"id": "2"}]]
    assert first.call_count == second.call_count == 1
    assert str(second.calls.last.request.url) == odd_link
    assert client.stats.requests == 2


def test_429_waits_as_long_as_retry_after_says(
    client: GraphClient, entra: respx.MockRouter, sleeps: Sleeps
) -> None:
    entra.get(f"{V1}/users").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503, headers={"Retry-After": "2"}),
            httpx.Response(200, json={"value": []}),
        ]
    )

    assert client.get("/users") == {"value": []}
    assert sleeps == [7.0, 2.0]
    assert client.stats.retries == 2
    assert client.stats.throttled == 1


def test_backs_off_exponentially_without_retry_after(
    client: GraphClient, entra: respx.MockRouter, sleeps: Sleeps
) -> None:
    entra.get(f"{V1}/users").mock(
        side_effect=[httpx.Response(504)] * 4 + [httpx.Response(200, json={"value": []})]
    )

    client.get("/users")

    assert len(sleeps) == 4
    # Each wait is within [half, full] of 0.5 * 2**attempt.
    for attempt, waited in enumerate(sleeps):
        assert 0.25 * 2**attempt <= waited <= 0.5 * 2**attempt


def test_throttling_beyond_the_budget_fails_the_read(
    client: GraphClient, entra: respx.MockRouter, sleeps: Sleeps
) -> None:
    entra.get(f"{V1}/users").respond(429, headers={"Retry-After": "3600", "request-id": "r-1"})

    with pytest.raises(ThrottledError) as caught:
        client.get("/users")

    assert caught.value.ids == {"request_id": "r-1"}
    assert sleeps == []


def test_a_401_gets_a_fresh_token_once(client: GraphClient, entra: respx.MockRouter) -> None:
    users = entra.get(f"{V1}/users").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json={"value": []})]
    )

    client.get("/users")

    assert users.call_count == 2
    assert entra.routes["token"].call_count == 2
    assert client.stats.token_refreshes == 1


def test_errors_are_translated_by_cause(client: GraphClient, entra: respx.MockRouter) -> None:
    def error(code: str) -> dict[str, object]:
        return {"error": {"code": code, "message": "m", "innerError": {"request-id": "rq"}}}

    entra.get(f"{V1}/groups").respond(403, json=error("Authorization_RequestDenied"))
    entra.get(f"{V1}/users/delta").respond(410, json=error("gone"))
    entra.get(f"{V1}/groups/delta").respond(400, json=error("syncStateNotFound"))
    entra.get(f"{V1}/users/missing").respond(404, json=error("Request_ResourceNotFound"))
    entra.get(f"{V1}/users/bad").respond(400, json=error("Request_BadRequest"))

    with pytest.raises(MissingPermissionError) as denied:
        client.get("/groups")
    with pytest.raises(DeltaExpiredError):
        client.get("/users/delta")
    with pytest.raises(DeltaExpiredError):
        client.get("/groups/delta")
    with pytest.raises(NotFoundError):
        client.get("/users/missing")
    with pytest.raises(GraphRequestError) as bad:
        client.get("/users/bad")

    assert denied.value.missing == ("Group.Read.All",)
    assert "Grant admin consent" in denied.value.message
    assert denied.value.ids == {"request_id": "rq"}
    assert bad.value.status == 400


def test_batch_answers_in_order_and_retries_throttled_sub_requests(
    client: GraphClient, entra: respx.MockRouter, sleeps: Sleeps
) -> None:
    seen: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(request.content)
        seen.append([r["url"] for r in body["requests"]])
        responses = []
        for sub in body["requests"]:
            if sub["url"] == "/users/b" and len(seen) == 1:
                responses.append(
                    {"id": sub["id"], "status": 429, "headers": {"Retry-After": "1"}, "body": {}}
                )
            elif sub["url"] == "/users/gone":
                responses.append({"id": sub["id"], "status": 404, "body": {"error": {}}})
            else:
                responses.append({"id": sub["id"], "status": 200, "body": {"u": sub["url"]}})
        return httpx.Response(200, json={"responses": list(reversed(responses))})

    entra.post(f"{V1}/$batch").mock(side_effect=answer)
    paths = ["/users/a", "/users/b", "/users/gone"] + [f"/users/n{i}" for i in range(20)]

    answers = client.batch(paths)

    assert [a.body["u"] if a.body else None for a in answers[:2]] == ["/users/a", "/users/b"]
    assert isinstance(answers[2].error, NotFoundError)
    assert [a.unwrap()["u"] for a in answers[3:]] == paths[3:]
    assert len(seen[0]) == 20  # at most 20 sub-requests per batch
    assert seen[1] == ["/users/b"]
    assert sleeps == [1.0]


def test_roles_are_checked_on_a_fresh_token(client: GraphClient, entra: respx.MockRouter) -> None:
    issue_token(entra, ("User.Read.All",))

    with pytest.raises(MissingPermissionError) as caught:
        client.check_access()

    assert caught.value.missing == ("Group.Read.All",)
