"""Programmed faults: throttling with and without Retry-After, 503, 504, one failing page,
faults by path and count; and the request counter."""

from __future__ import annotations

from tests.fakes.conftest import Directory


def test_throttle_with_and_without_retry_after(directory: Directory) -> None:
    faults, client = directory.state.faults, directory.client
    faults.throttle(times=1, retry_after=3)
    faults.throttle(times=1, retry_after=None)
    first = client.get("/v1.0/users")
    second = client.get("/v1.0/users")
    third = client.get("/v1.0/users")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert second.status_code == 429
    assert "Retry-After" not in second.headers
    assert third.status_code == 200


def test_next_n_requests_fail_with_503_then_504(directory: Directory) -> None:
    faults, client = directory.state.faults, directory.client
    faults.unavailable(times=2)
    faults.gateway_timeout(times=1)
    statuses = [client.get("/v1.0/groups").status_code for _ in range(4)]
    assert statuses == [503, 503, 504, 200]


def test_fault_by_path_leaves_other_paths_alone(directory: Directory) -> None:
    directory.state.faults.unavailable(times=None, path=r"^/v1\.0/groups")
    assert directory.client.get("/v1.0/users").status_code == 200
    assert directory.client.get("/v1.0/groups").status_code == 503
    assert directory.client.get("/v1.0/groups").status_code == 503
    directory.state.faults.clear()
    assert directory.client.get("/v1.0/groups").status_code == 200


def test_a_specific_page_fails_once_and_its_link_still_works(directory: Directory) -> None:
    directory.state.faults.fail_page(page=2, path=r"/users$")
    client = directory.client
    first = client.get("/v1.0/users?$top=2").json()
    failed = client.get(first["@odata.nextLink"])
    assert failed.status_code == 503
    retried = client.get(first["@odata.nextLink"])
    assert retried.status_code == 200
    assert len(retried.json()["value"]) == 2


def test_token_endpoint_fails_only_when_a_fault_names_it(directory: Directory) -> None:
    faults, client = directory.state.faults, directory.client
    faults.unavailable(times=1)
    secret = directory.app.secrets[0].value
    token = client.token_response(directory.tenant.id, directory.app.client_id, secret)
    assert token.status_code == 200
    assert client.get("/v1.0/users").status_code == 503
    faults.throttle(times=1, retry_after=2, path=r"/oauth2/v2\.0/token$")
    response = client.token_response(directory.tenant.id, directory.app.client_id, secret)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"] == "temporarily_unavailable"


def test_requests_are_counted_by_method_and_path(directory: Directory) -> None:
    state, client = directory.state, directory.client
    state.requests.reset()
    client.collect("/v1.0/users?$top=2")
    client.post("/v1.0/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/groups"}]})
    assert state.requests.count("GET", "/v1.0/users") == 3
    assert state.requests.count("POST", "/v1.0/$batch") == 1
    assert state.requests.count("GET", "/v1.0/groups", in_batch=True) == 1
    assert state.requests.methods("/v1.0") == {"GET", "POST"}
    assert state.requests.count() == 4


def test_a_delta_page_fails_and_the_round_resumes(directory: Directory) -> None:
    directory.state.config.delta_page_size = 2
    directory.state.faults.fail_page(page=2, path=r"/users/delta$", status=504)
    client = directory.client
    first = client.get("/v1.0/users/delta?$select=id").json()
    assert client.get(first["@odata.nextLink"]).status_code == 504
    rest, last = client.collect(first["@odata.nextLink"])
    ids = [u["id"] for u in first["value"] + rest]
    assert sorted(ids) == sorted(directory.tenant.users)
    assert "@odata.deltaLink" in last
