"""Graph v1.0 reads: paging by nextLink, $select, $top bounds, $filter, members, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakes.conftest import Directory
from tests.fakes.entra import EntraState, create_app
from tests.fakes.entra.client import FakeClient


def _error(response_json: dict[str, object]) -> dict[str, object]:
    error = response_json["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "innerError"}
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    return error


def test_paging_follows_next_links_to_every_user_once(directory: Directory) -> None:
    tenant = directory.tenant
    for i in range(20):
        tenant.create_user(f"Extra {i}")
    pages = list(directory.client.pages("/v1.0/users?$top=4&$select=id,mail"))
    ids = [u["id"] for page in pages for u in page["value"]]
    assert len(pages) == 7
    assert all(len(page["value"]) == 4 for page in pages[:-1])
    assert "@odata.nextLink" not in pages[-1]
    assert sorted(ids) == sorted(tenant.users)
    assert "$skiptoken=" in pages[0]["@odata.nextLink"]


def test_paging_neither_repeats_nor_skips_when_users_come_and_go(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    first = client.get("/v1.0/users?$top=2").json()
    seen = {u["id"] for u in first["value"]}
    remaining = sorted(set(tenant.users) - seen)
    tenant.delete_user(remaining[-1])
    rest, _ = client.collect(first["@odata.nextLink"])
    assert {u["id"] for u in rest} == set(remaining[:-1])


def test_a_changed_skiptoken_is_refused(directory: Directory) -> None:
    link = directory.client.get("/v1.0/users?$top=1").json()["@odata.nextLink"]
    response = directory.client.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert response.status_code == 400


def test_select_returns_those_properties_and_id(directory: Directory) -> None:
    users, _ = directory.client.collect("/v1.0/users?$select=mail,accountEnabled,userType")
    assert all(set(u) == {"id", "mail", "accountEnabled", "userType"} for u in users)
    no_mail = next(u for u in users if u["id"] == directory.users[3]["id"])
    assert no_mail["mail"] is None


def test_default_properties_leave_out_account_enabled(directory: Directory) -> None:
    user = directory.client.get("/v1.0/users?$top=1").json()["value"][0]
    assert "accountEnabled" not in user
    assert {"id", "displayName", "mail", "userPrincipalName"} <= set(user)


def test_select_of_an_unknown_property_is_400(directory: Directory) -> None:
    response = directory.client.get("/v1.0/users?$select=id,shoeSize")
    assert response.status_code == 400
    assert "shoeSize" in _error(response.json())["message"]  # type: ignore[operator]


@pytest.mark.parametrize("top", ["0", "1000", "-1"])
def test_top_out_of_range_is_400(directory: Directory, top: str) -> None:
    response = directory.client.get(f"/v1.0/users?$top={top}")
    assert response.status_code == 400
    error = _error(response.json())
    assert error["code"] == "Request_UnsupportedQuery"
    assert "between 1 and 999" in str(error["message"])


def test_top_999_is_accepted(directory: Directory) -> None:
    response = directory.client.get("/v1.0/groups?$top=999")
    assert response.status_code == 200
    assert len(response.json()["value"]) == 2


def test_query_options_without_dollar_are_accepted(directory: Directory) -> None:
    response = directory.client.get("/v1.0/users?select=id&top=2")
    assert [set(u) for u in response.json()["value"]] == [{"id"}, {"id"}]


def test_filters_of_a_sync_and_a_group_picker(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    tenant.create_group("Sales Unified", security_enabled=False, group_types=["Unified"])
    picked = client.get(
        "/v1.0/groups?$filter=securityEnabled eq true and startswith(displayName,'sales')"
    ).json()["value"]
    assert {g["displayName"] for g in picked} == {"Sales", "Sales EMEA"}
    unified = client.get("/v1.0/groups?$filter=groupTypes/any(c:c eq 'Unified')").json()
    assert [g["displayName"] for g in unified["value"]] == ["Sales Unified"]
    a, b = directory.users[0]["id"], directory.users[4]["id"]
    by_id = client.get(f"/v1.0/users?$filter=id eq '{a}' or id eq '{b}'&$select=id").json()
    assert {u["id"] for u in by_id["value"]} == {a, b}
    guests = client.get("/v1.0/users?$filter=userType eq 'Guest'").json()["value"]
    assert [u["id"] for u in guests] == [b]


def test_advanced_filters_need_consistency_level_and_count(directory: Directory) -> None:
    client = directory.client
    plain = client.get("/v1.0/users?$filter=mail ne null")
    assert plain.status_code == 400
    advanced = client.get(
        "/v1.0/users?$filter=mail ne null&$count=true", headers={"ConsistencyLevel": "eventual"}
    )
    assert advanced.status_code == 200
    assert len(advanced.json()["value"]) == 4


def test_malformed_filter_is_400(directory: Directory) -> None:
    for text in ["displayName eq", "startswith(displayName)", "nope eq 'x'", "id gt 'a'"]:
        assert directory.client.get(f"/v1.0/users?$filter={text}").status_code == 400, text


def test_get_one_group_or_404(directory: Directory) -> None:
    client = directory.client
    group = client.get(f"/v1.0/groups/{directory.sales['id']}?$select=displayName").json()
    assert group["displayName"] == "Sales"
    missing = client.get("/v1.0/groups/3f1c2a4e-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert _error(missing.json())["code"] == "Request_ResourceNotFound"


def test_members_carry_their_odata_type(directory: Directory) -> None:
    members, _ = directory.client.collect(f"/v1.0/groups/{directory.sales['id']}/members")
    types = sorted(m["@odata.type"] for m in members)
    assert types == [
        "#microsoft.graph.device",
        "#microsoft.graph.group",
        "#microsoft.graph.user",
        "#microsoft.graph.user",
        "#microsoft.graph.user",
    ]


def test_user_cast_returns_only_users(directory: Directory) -> None:
    url = f"/v1.0/groups/{directory.sales['id']}/members/microsoft.graph.user?$select=id,mail"
    members, _ = directory.client.collect(url)
    assert {m["id"] for m in members} == {u["id"] for u in directory.users[:3]}
    assert all(set(m) == {"id", "mail"} for m in members)


def test_transitive_members_flatten_nested_groups_through_a_cycle(directory: Directory) -> None:
    url = f"/v1.0/groups/{directory.sales['id']}/transitiveMembers/microsoft.graph.user?$top=2"
    members, _ = directory.client.collect(url)
    assert sorted(m["id"] for m in members) == sorted(u["id"] for u in directory.users[:4])
    everything, _ = directory.client.collect(
        f"/v1.0/groups/{directory.nested['id']}/transitiveMembers"
    )
    ids = {m["id"] for m in everything}
    assert directory.nested["id"] not in ids
    assert directory.sales["id"] in ids
    assert directory.device["id"] in ids


def test_members_of_an_unknown_group_is_404(directory: Directory) -> None:
    response = directory.client.get("/v1.0/groups/nope/members")
    assert response.status_code == 404


def test_without_user_read_members_show_only_type_and_id(directory: Directory) -> None:
    tenant = directory.tenant
    limited = tenant.add_app(roles=("GroupMember.Read.All",))
    client = FakeClient(create_app(directory.state))
    client.sign_in(tenant, limited)
    members, _ = client.collect(f"/v1.0/groups/{directory.sales['id']}/members")
    users = [m for m in members if m["@odata.type"] == "#microsoft.graph.user"]
    assert users
    assert all(set(m) == {"@odata.type", "id"} for m in users)
    assert client.get("/v1.0/users").status_code == 403


def test_missing_role_is_403_authorization_request_denied(directory: Directory) -> None:
    tenant = directory.tenant
    app = tenant.add_app(roles=("User.Read.All",))
    client = FakeClient(create_app(directory.state))
    client.sign_in(tenant, app)
    response = client.get("/v1.0/groups")
    assert response.status_code == 403
    assert _error(response.json())["code"] == "Authorization_RequestDenied"


def test_missing_bad_or_expired_token_is_401(directory: Directory) -> None:
    state = directory.state
    client = FakeClient(create_app(state))
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer abc.def.ghi"}):
        response = client.get("/v1.0/users", headers=headers)
        assert response.status_code == 401
        assert _error(response.json())["code"] == "InvalidAuthenticationToken"
    token = directory.client.headers["Authorization"]
    state.clock.advance(timedelta(minutes=61))
    expired = client.get("/v1.0/users", headers={"Authorization": token})
    assert expired.status_code == 401
    assert "expired" in str(_error(expired.json())["message"])


def test_token_for_another_resource_is_401_invalid_audience() -> None:
    state = EntraState()
    tenant = state.add_tenant()
    app = tenant.add_app()
    login = FakeClient(create_app(state), "https://login.fake.test")
    token = login.token_response(
        tenant.id, app.client_id, app.secrets[0].value, "https://graph.microsoft.com/.default"
    ).json()["access_token"]
    graph = FakeClient(create_app(state), "https://graph.fake.test")
    response = graph.get("/v1.0/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "audience" in response.json()["error"]["message"]


def test_writes_are_refused(directory: Directory) -> None:
    response = directory.client.request("PATCH", f"/v1.0/users/{directory.users[0]['id']}", json={})
    assert response.status_code == 405
    assert directory.state.requests.count("PATCH") == 1


def test_search_needs_consistency_level_and_matches_word_prefixes(directory: Directory) -> None:
    client = directory.client
    url = '/v1.0/groups?$search="displayName:emea"&$count=true'
    assert client.get(url).status_code == 400
    found = client.get(url, headers={"ConsistencyLevel": "eventual"}).json()
    assert [g["displayName"] for g in found["value"]] == ["Sales EMEA"]
    assert found["@odata.count"] == 1
    either = client.get(
        '/v1.0/users?$search="displayName:guest" OR "displayName:mail"',
        headers={"ConsistencyLevel": "eventual"},
    ).json()
    assert sorted(u["displayName"] for u in either["value"]) == ["Guest", "No Mail"]


def test_count_is_the_total_over_all_pages(directory: Directory) -> None:
    page = directory.client.get(
        "/v1.0/users?$top=2&$count=true", headers={"ConsistencyLevel": "eventual"}
    ).json()
    assert page["@odata.count"] == 5
    assert len(page["value"]) == 2
