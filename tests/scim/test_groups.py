"""Group membership as Entra changes it ("Known issues and resolutions with SCIM 2.0
protocol compliance of the Microsoft Entra user provisioning service")."""

from __future__ import annotations

from tests.scim.client import entra_group, entra_user
from tests.scim.conftest import Tenant


def _members(acme: Tenant, group_id: str) -> list[str]:
    body = acme.scim.get(f"/Groups/{group_id}").json()
    return sorted(m["value"] for m in body.get("members", []))


def test_adding_a_present_member_and_removing_an_absent_one_change_nothing(acme: Tenant) -> None:
    ann = acme.scim.post("/Users", entra_user("ann")).json()["id"]
    bob = acme.scim.post("/Users", entra_user("bob")).json()["id"]
    group = acme.scim.post("/Groups", entra_group("Sales", [ann])).json()["id"]
    for op, value in (("Add", ann), ("Remove", bob)):
        answer = acme.scim.patch(
            f"/Groups/{group}", [{"op": op, "path": "members", "value": [{"value": value}]}]
        )
        assert answer.status_code == 204, answer.text
    assert _members(acme, group) == [ann]


def test_remove_members_without_value_empties_the_group(acme: Tenant) -> None:
    ann = acme.scim.post("/Users", entra_user("ann")).json()["id"]
    group = acme.scim.post("/Groups", entra_group("Sales", [ann])).json()["id"]
    assert (
        acme.scim.patch(f"/Groups/{group}", [{"op": "remove", "path": "members"}]).status_code
        == 204
    )
    assert _members(acme, group) == []


def test_put_and_replace_set_the_whole_member_list(acme: Tenant) -> None:
    ann, bob, cara = (
        acme.scim.post("/Users", entra_user(n)).json()["id"] for n in ("ann", "bob", "cara")
    )
    group = acme.scim.post("/Groups", entra_group("Sales", [ann, bob])).json()["id"]
    assert acme.scim.put(f"/Groups/{group}", entra_group("Sales", [bob, cara])).status_code == 200
    assert _members(acme, group) == sorted([bob, cara])
    acme.scim.patch(
        f"/Groups/{group}", [{"op": "replace", "path": "members", "value": [{"value": ann}]}]
    )
    assert _members(acme, group) == [ann]


def test_members_can_be_left_out_and_groups_asked_for(acme: Tenant) -> None:
    ann = acme.scim.post("/Users", entra_user("ann")).json()["id"]
    group = acme.scim.post("/Groups", entra_group("Sales", [ann])).json()["id"]
    listed = acme.scim.get("/Groups", params={"excludedAttributes": "members"}).json()
    assert ["members" in r for r in listed["Resources"]] == [False]
    user = acme.scim.get(f"/Users/{ann}", params={"attributes": "groups"}).json()
    assert [(g["value"], g["display"]) for g in user["groups"]] == [(group, "Sales")]
    assert "groups" not in acme.scim.get(f"/Users/{ann}").json()


def test_deleting_a_user_removes_it_from_its_groups(acme: Tenant) -> None:
    ann = acme.scim.post("/Users", entra_user("ann")).json()["id"]
    bob = acme.scim.post("/Users", entra_user("bob")).json()["id"]
    group = acme.scim.post("/Groups", entra_group("Sales", [ann, bob])).json()["id"]
    assert acme.scim.delete(f"/Users/{ann}").status_code == 204
    assert _members(acme, group) == [bob]
    found = acme.scim.get("/Groups", params={"filter": f'members[value eq "{bob}"]'}).json()
    assert found["totalResults"] == 1


def test_a_member_add_naming_unknown_users_is_refused_whole(acme: Tenant) -> None:
    ann, bob = (acme.scim.post("/Users", entra_user(n)).json()["id"] for n in ("ann", "bob"))
    group = acme.scim.post("/Groups", entra_group("Sales", [ann])).json()["id"]
    nobody = "00000000-0000-4000-8000-000000000000"
    answer = acme.scim.patch(
        f"/Groups/{group}",
        [{"op": "add", "path": "members", "value": [{"value": bob}, {"value": nobody}]}],
    )
    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidValue"
    assert nobody in answer.json()["detail"]
    assert bob not in answer.json()["detail"]
    assert _members(acme, group) == [ann]
    # Removing an id that names no user changes nothing either.
    answer = acme.scim.patch(
        f"/Groups/{group}", [{"op": "remove", "path": "members", "value": [{"value": nobody}]}]
    )
    assert answer.status_code == 204
    assert _members(acme, group) == [ann]
