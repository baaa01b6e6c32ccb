"""JSON batching: at most 20 items, each answered independently with its own status,
headers and body; dependencies; only reads reach the directory."""

from __future__ import annotations

from typing import Any

from tests.fakes.conftest import Directory


def _batch(directory: Directory, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    response = directory.client.post("/v1.0/$batch", json={"requests": requests})
    assert response.status_code == 200
    return {item["id"]: item for item in response.json()["responses"]}


def test_items_are_answered_independently(directory: Directory) -> None:
    sales = directory.sales["id"]
    answers = _batch(
        directory,
        [
            {"id": "1", "method": "GET", "url": "/users?$select=id&$top=2"},
            {"id": "2", "method": "GET", "url": f"groups/{sales}/members?$select=id"},
            {"id": "3", "method": "GET", "url": "/groups/00000000-0000-4000-8000-000000000000"},
            {"id": "4", "method": "GET", "url": "/users?$top=5000"},
        ],
    )
    assert answers["1"]["status"] == 200
    assert len(answers["1"]["body"]["value"]) == 2
    assert answers["1"]["body"]["@odata.nextLink"].startswith(f"{directory.client.base_url}/v1.0/")
    assert answers["2"]["status"] == 200
    assert len(answers["2"]["body"]["value"]) == 5
    assert answers["3"]["status"] == 404
    assert answers["3"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert answers["4"]["status"] == 400


def test_more_than_twenty_items_is_400(directory: Directory) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    response = directory.client.post("/v1.0/$batch", json={"requests": requests})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert directory.state.requests.count(in_batch=True) == 0
    twenty = _batch(directory, requests[:20])
    assert len(twenty) == 20


def test_malformed_batches_are_400(directory: Directory) -> None:
    client = directory.client
    bodies: list[Any] = [
        {},
        {"requests": []},
        {"requests": [{"id": "1", "method": "GET"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/users"}] * 2},
        {"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]},
    ]
    for body in bodies:
        assert client.post("/v1.0/$batch", json=body).status_code == 400, body
    assert client.post("/v1.0/$batch", content=b"{not json").status_code == 400


def test_a_throttled_item_carries_its_own_retry_after(directory: Directory) -> None:
    directory.state.faults.throttle(times=1, retry_after=7, path=r"/members$")
    sales = directory.sales["id"]
    answers = _batch(
        directory,
        [
            {"id": "a", "method": "GET", "url": "/users?$top=1"},
            {"id": "b", "method": "GET", "url": f"/groups/{sales}/members"},
        ],
    )
    assert answers["a"]["status"] == 200
    assert answers["b"]["status"] == 429
    assert answers["b"]["headers"]["Retry-After"] == "7"
    assert answers["b"]["body"]["error"]["code"] == "TooManyRequests"


def test_failed_dependency_is_424(directory: Directory) -> None:
    answers = _batch(
        directory,
        [
            {"id": "1", "method": "GET", "url": "/groups/nope"},
            {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
        ],
    )
    assert answers["1"]["status"] == 404
    assert answers["2"]["status"] == 424


def test_items_use_the_batch_token_and_their_own_headers(directory: Directory) -> None:
    answers = _batch(
        directory,
        [
            {
                "id": "1",
                "method": "GET",
                "url": "/users?$filter=mail ne null&$count=true",
                "headers": {"ConsistencyLevel": "eventual"},
            },
            {"id": "2", "method": "GET", "url": "/users?$filter=mail ne null"},
        ],
    )
    assert answers["1"]["status"] == 200
    assert answers["2"]["status"] == 400
    unauthenticated = directory.client.post(
        "/v1.0/$batch",
        json={"requests": [{"id": "1", "method": "GET", "url": "/users"}]},
        headers={"Authorization": ""},
    )
    assert unauthenticated.json()["responses"][0]["status"] == 401


def test_writes_in_a_batch_are_refused_and_counted(directory: Directory) -> None:
    uid = directory.users[0]["id"]
    answers = _batch(
        directory,
        [{"id": "1", "method": "PATCH", "url": f"/users/{uid}", "body": {"displayName": "x"}}],
    )
    assert answers["1"]["status"] == 405
    assert directory.tenant.users[uid]["displayName"] == "User 0"
    assert directory.state.requests.methods("/v1.0") == {"POST", "PATCH"}
    assert directory.state.requests.count("PATCH", in_batch=True) == 1


def test_answers_come_in_any_order(directory: Directory) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(20)]
    response = directory.client.post("/v1.0/$batch", json={"requests": requests})
    order = [item["id"] for item in response.json()["responses"]]
    assert sorted(order, key=int) == [str(i) for i in range(20)]
    assert order != [str(i) for i in range(20)]
