"""Delta queries: a full first round, then exactly what changed; members@delta split across
pages; soft and hard deletes; id filters; token expiry and resynchronisation."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from tests.fakes.conftest import Directory


def _merge_members(items: list[dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """Group id -> member id -> present, merging a group that appears on several pages."""
    merged: dict[str, dict[str, bool]] = defaultdict(dict)
    for item in items:
        for entry in item.get("members@delta", []):
            merged[item["id"]][entry["id"]] = "@removed" not in entry
    return merged


def test_first_round_returns_every_user_then_a_delta_link(directory: Directory) -> None:
    directory.state.config.delta_page_size = 2
    pages = list(directory.client.pages("/v1.0/users/delta?$select=mail,accountEnabled"))
    assert len(pages) == 3
    assert all("@odata.deltaLink" not in p for p in pages[:-1])
    assert "$deltatoken=" in pages[-1]["@odata.deltaLink"]
    items = [u for p in pages for u in p["value"]]
    assert sorted(u["id"] for u in items) == sorted(directory.tenant.users)
    assert all(set(u) == {"id", "mail", "accountEnabled"} for u in items)


def test_delta_link_returns_exactly_the_changes(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    _, last = client.collect("/v1.0/users/delta?$select=displayName,mail,accountEnabled")
    link = last["@odata.deltaLink"]
    quiet, last = client.collect(link)
    assert quiet == []
    link = last["@odata.deltaLink"]
    u0, u1, u2 = (u["id"] for u in directory.users[:3])
    tenant.update_user(u0, displayName="Renamed")
    tenant.update_user(u1, accountEnabled=False)
    tenant.update_user(u2, jobTitle="Untracked")  # not selected: not reported
    soft = directory.users[3]["id"]
    hard = directory.users[4]["id"]
    tenant.delete_user(soft)
    tenant.delete_user(hard, permanent=True)
    new = tenant.create_user("Newcomer")
    changes, last = client.collect(link)
    by_id = {item["id"]: item for item in changes}
    assert set(by_id) == {u0, u1, soft, hard, new["id"]}
    assert by_id[u0]["displayName"] == "Renamed"
    # Default: every tracked property comes back, changed or not.
    assert set(by_id[u1]) == {"id", "displayName", "mail", "accountEnabled"}
    assert by_id[u1]["accountEnabled"] is False
    assert by_id[soft] == {"id": soft, "@removed": {"reason": "changed"}}
    assert by_id[hard] == {"id": hard, "@removed": {"reason": "deleted"}}
    assert by_id[new["id"]]["displayName"] == "Newcomer"
    again, _ = client.collect(last["@odata.deltaLink"])
    assert again == []


def test_prefer_minimal_returns_only_changed_properties(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    _, last = client.collect("/v1.0/users/delta?$select=displayName,mail,accountEnabled")
    uid = directory.users[0]["id"]
    tenant.update_user(uid, accountEnabled=False)
    changes, _ = client.collect(last["@odata.deltaLink"], headers={"Prefer": "return=minimal"})
    assert changes == [{"id": uid, "accountEnabled": False}]


def test_restored_user_comes_back_with_its_memberships(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    uid = directory.users[0]["id"]
    tenant.delete_user(uid)
    _, users_last = client.collect("/v1.0/users/delta?$select=id")
    _, groups_last = client.collect("/v1.0/groups/delta?$select=members")
    tenant.restore_user(uid)
    users, _ = client.collect(users_last["@odata.deltaLink"])
    groups, _ = client.collect(groups_last["@odata.deltaLink"])
    assert [u["id"] for u in users] == [uid]
    assert _merge_members(groups) == {directory.sales["id"]: {uid: True}}


def test_group_delta_reports_member_additions_removals_and_renames(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    first, last = client.collect("/v1.0/groups/delta?$select=displayName,members")
    initial = _merge_members(first)
    assert set(initial[directory.sales["id"]]) == {
        *(u["id"] for u in directory.users[:3]),
        directory.nested["id"],
        directory.device["id"],
    }
    sales, nested = directory.sales["id"], directory.nested["id"]
    tenant.remove_member(sales, directory.users[0]["id"])
    tenant.add_member(sales, directory.users[4]["id"])
    tenant.rename_group(nested, "Sales Europe")
    tenant.delete_user(directory.users[3]["id"])  # leaves "nested"
    changes, _ = client.collect(last["@odata.deltaLink"])
    by_id = {item["id"]: item for item in changes}
    assert _merge_members(changes) == {
        sales: {directory.users[0]["id"]: False, directory.users[4]["id"]: True},
        nested: {directory.users[3]["id"]: False},
    }
    assert by_id[nested]["displayName"] == "Sales Europe"
    removed = [e for e in by_id[sales]["members@delta"] if "@removed" in e]
    assert removed == [
        {
            "@odata.type": "#microsoft.graph.user",
            "id": directory.users[0]["id"],
            "@removed": {"reason": "deleted"},
        }
    ]


def test_members_of_a_large_group_are_split_across_pages(directory: Directory) -> None:
    tenant, client, state = directory.tenant, directory.client, directory.state
    big = tenant.create_group("Everyone")
    people = [tenant.create_user(f"P{i}") for i in range(25)]
    for person in people:
        tenant.add_member(big["id"], person["id"])
    state.config.delta_members_per_page = 10
    pages = list(client.pages(f"/v1.0/groups/delta?$filter=id eq '{big['id']}'"))
    assert len(pages) == 3
    assert all([item["id"] for item in page["value"]] == [big["id"]] for page in pages)
    assert all(page["value"][0]["displayName"] == "Everyone" for page in pages)
    merged = _merge_members([item for page in pages for item in page["value"]])
    assert merged == {big["id"]: {p["id"]: True for p in people}}
    link = pages[-1]["@odata.deltaLink"]
    for person in people[:12]:
        tenant.remove_member(big["id"], person["id"])
    extra = [tenant.create_user(f"Q{i}") for i in range(12)]
    for person in extra:
        tenant.add_member(big["id"], person["id"])
    change_pages = list(client.pages(link))
    assert len(change_pages) == 3
    merged = _merge_members([item for page in change_pages for item in page["value"]])
    expected = {p["id"]: False for p in people[:12]} | {p["id"]: True for p in extra}
    assert merged == {big["id"]: expected}


def test_group_filter_takes_at_most_fifty_ids(directory: Directory) -> None:
    ids = [directory.sales["id"]] * 1 + [f"00000000-0000-4000-8000-{i:012d}" for i in range(50)]
    text = " or ".join(f"id eq '{i}'" for i in ids)
    response = directory.client.get(f"/v1.0/groups/delta?$filter={text}")
    assert response.status_code == 400
    fifty = " or ".join(f"id eq '{i}'" for i in ids[:50])
    items, _ = directory.client.collect(f"/v1.0/groups/delta?$filter={fifty}")
    assert [item["id"] for item in items] == [directory.sales["id"]]


def test_delta_filter_accepts_only_ids(directory: Directory) -> None:
    response = directory.client.get("/v1.0/groups/delta?$filter=startswith(displayName,'S')")
    assert response.status_code == 400


def test_filtered_delta_reports_only_those_groups(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    sales = directory.sales["id"]
    _, last = client.collect(f"/v1.0/groups/delta?$filter=id eq '{sales}'")
    tenant.rename_group(directory.nested["id"], "Other")
    tenant.rename_group(sales, "Sales 2")
    changes, _ = client.collect(last["@odata.deltaLink"])
    assert [(c["id"], c["displayName"]) for c in changes] == [(sales, "Sales 2")]


def test_deleted_group_is_removed_deleted(directory: Directory) -> None:
    tenant, client = directory.tenant, directory.client
    _, last = client.collect("/v1.0/groups/delta")
    tenant.delete_group(directory.nested["id"])
    changes, _ = client.collect(last["@odata.deltaLink"])
    by_id = {c["id"]: c for c in changes}
    assert by_id[directory.nested["id"]] == {
        "id": directory.nested["id"],
        "@removed": {"reason": "deleted"},
    }
    assert _merge_members(changes)[directory.sales["id"]] == {directory.nested["id"]: False}


def test_expired_delta_link_is_sync_state_not_found(directory: Directory) -> None:
    _, last = directory.client.collect("/v1.0/users/delta")
    directory.state.clock.advance(timedelta(days=7, minutes=1))
    directory.client.sign_in(directory.tenant, directory.app)
    response = directory.client.get(last["@odata.deltaLink"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "syncStateNotFound"


def test_configurable_token_age(directory: Directory) -> None:
    directory.state.config.delta_token_max_age = timedelta(minutes=5)
    _, last = directory.client.collect("/v1.0/groups/delta")
    directory.state.clock.advance(minutes=4)
    assert directory.client.get(last["@odata.deltaLink"]).status_code == 200
    directory.state.clock.advance(minutes=2)
    assert directory.client.get(last["@odata.deltaLink"]).status_code == 400


def test_resync_is_410_with_the_initial_query_in_location(directory: Directory) -> None:
    _, last = directory.client.collect("/v1.0/users/delta?$select=mail")
    directory.state.faults.resync()
    response = directory.client.get(last["@odata.deltaLink"])
    assert response.status_code == 410
    location = response.headers["Location"]
    assert location == f"{directory.client.base_url}/v1.0/users/delta?$select=mail"
    assert directory.client.get(location).status_code == 200


def test_sync_from_now_returns_only_a_delta_link(directory: Directory) -> None:
    page = directory.client.get("/v1.0/users/delta?$deltatoken=latest").json()
    assert page["value"] == []
    directory.tenant.update_user(directory.users[0]["id"], displayName="Later")
    changes, _ = directory.client.collect(page["@odata.deltaLink"])
    assert [c["id"] for c in changes] == [directory.users[0]["id"]]


def test_changes_during_a_first_round_arrive_in_the_next(directory: Directory) -> None:
    tenant, client, state = directory.tenant, directory.client, directory.state
    state.config.delta_page_size = 1
    first = client.get("/v1.0/users/delta?$select=displayName").json()
    late = tenant.create_user("Late arrival")
    tenant.update_user(first["value"][0]["id"], displayName="Changed meanwhile")
    _, last = client.collect(first["@odata.nextLink"])
    changes, _ = client.collect(last["@odata.deltaLink"])
    assert {c["id"] for c in changes} == {late["id"], first["value"][0]["id"]}
