"""RFC 7644 operations with the RFC's sample payloads, one test per section."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scim.client import ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, entra_user
from tests.scim.conftest import Tenant

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

# RFC 7644 §3.3, "creating a user" (Figure 2 of §3.3, with an e-mail address
# this service needs as the Primary Email).
RFC_7644_3_3_USER: dict[str, Any] = {
    "schemas": [USER_SCHEMA],
    "userName": "bjensen",
    "externalId": "bjensen",
    "name": {
        "formatted": "Ms. Barbara J Jensen III",
        "familyName": "Jensen",
        "givenName": "Barbara",
    },
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
}


def test_rfc7644_3_3_create_answers_201_with_meta_location_and_etag(acme: Tenant) -> None:
    answer = acme.scim.post("/Users", RFC_7644_3_3_USER)
    assert answer.status_code == 201
    body = answer.json()
    assert body["schemas"] == [USER_SCHEMA]
    assert body["userName"] == "bjensen"
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"https://gw.example.com/scim/v2/Users/{body['id']}"
    assert answer.headers["Location"] == meta["location"]
    assert answer.headers["ETag"] == meta["version"] == 'W/"1"'
    assert meta["created"] == meta["lastModified"]
    assert meta["created"].endswith("Z")


def test_rfc7644_3_4_1_get_by_id_with_attributes(acme: Tenant) -> None:
    created = acme.scim.post("/Users", RFC_7644_3_3_USER).json()
    answer = acme.scim.get(
        f"/Users/{created['id']}", params={"attributes": "userName,name.familyName"}
    )
    body = answer.json()
    assert set(body) == {"id", "schemas", "meta", "userName", "name"}
    assert body["name"] == {"familyName": "Jensen"}
    excluded = acme.scim.get(
        f"/Users/{created['id']}", params={"excludedAttributes": "name,emails"}
    )
    assert "name" not in excluded.json()
    assert "emails" not in excluded.json()
    assert excluded.json()["userName"] == "bjensen"


def _users(acme: Tenant, names: list[str], **extra: Any) -> list[str]:
    return [acme.scim.post("/Users", entra_user(name, **extra)).json()["id"] for name in names]


def _found(acme: Tenant, filter_text: str) -> list[str]:
    answer = acme.scim.get("/Users", params={"filter": filter_text, "sortBy": "userName"})
    assert answer.status_code == 200, answer.text
    return [r["userName"].split("@")[0] for r in answer.json()["Resources"]]


# RFC 7644 §3.4.2.2 examples, over ann, bob, cara (work mails) and dan (home mail, no title).
FILTERS = [
    ('userName Eq "ANN@contoso.com"', ["ann"]),
    ('userName ne "ann@contoso.com"', ["bob", "cara", "dan"]),
    ('userName co "a"', ["ann", "cara", "dan"]),
    ('userName sw "C"', ["cara"]),
    ('userName ew "contoso.com"', ["ann", "bob", "cara", "dan"]),
    ("title pr", ["ann", "bob", "cara"]),
    ("not (title pr)", ["dan"]),
    ('title eq "Boss" and userName sw "b"', ["bob"]),
    ('title eq "Boss" or userName eq "dan@contoso.com"', ["bob", "dan"]),
    ('userName gt "bob@contoso.com"', ["cara", "dan"]),
    ('userName le "bob@contoso.com"', ["ann", "bob"]),
    ('emails[type eq "work" and value co "contoso"]', ["ann", "bob", "cara"]),
    ('emails[type eq "home"]', ["dan"]),
    ('emails[type eq "work"].value eq "cara@contoso.com"', ["cara"]),
    ('emails.value ew "@contoso.com"', ["ann", "bob", "cara", "dan"]),
    ('emails co "bob"', ["bob"]),
    ('emails[primary eq "True"]', ["ann", "bob", "cara"]),
    ('name.givenName eq "ann"', ["ann"]),
    (f'{ENTERPRISE}:department eq "sales"', ["bob", "cara"]),
    (f'{ENTERPRISE}:manager.value eq "m-1"', ["cara"]),
    ("active eq true", ["ann", "bob", "cara"]),
    ("active eq false", ["dan"]),
    ('externalId eq "bob"', ["bob"]),
    ('externalId eq "BOB"', []),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["ann", "bob", "cara", "dan"]),
    ('(userName sw "a" or userName sw "b") and not (title eq "boss")', ["ann"]),
]


@pytest.fixture
def four_users(acme: Tenant) -> Tenant:
    enterprise = {"department": "Sales"}
    acme.scim.post("/Users", entra_user("ann", title="Engineer"))
    acme.scim.post("/Users", entra_user("bob", title="Boss", **{ENTERPRISE: enterprise}))
    acme.scim.post(
        "/Users",
        entra_user(
            "cara", title="Engineer", **{ENTERPRISE: {**enterprise, "manager": {"value": "m-1"}}}
        ),
    )
    acme.scim.post(
        "/Users",
        entra_user("dan", active=False, emails=[{"type": "home", "value": "dan@contoso.com"}]),
    )
    return acme


@pytest.mark.parametrize(("filter_text", "expected"), FILTERS)
def test_rfc7644_3_4_2_2_filters(four_users: Tenant, filter_text: str, expected: list[str]) -> None:
    assert _found(four_users, filter_text) == expected


def test_rfc7644_3_4_2_3_sorting(four_users: Tenant) -> None:
    answer = four_users.scim.get("/Users", params={"sortBy": "userName", "sortOrder": "descending"})
    names = [r["userName"] for r in answer.json()["Resources"]]
    assert names == sorted(names, reverse=True)
    by_title = four_users.scim.get("/Users", params={"sortBy": "title", "filter": "title pr"})
    assert [r["title"] for r in by_title.json()["Resources"]] == ["Boss", "Engineer", "Engineer"]


def test_rfc7644_3_4_2_4_paging(four_users: Tenant) -> None:
    seen: list[str] = []
    start = 1
    while True:
        page = four_users.scim.get("/Users", params={"startIndex": start, "count": 3}).json()
        assert page["schemas"] == [LIST]
        assert page["totalResults"] == 4
        assert page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"])
        if not page["Resources"]:
            break
        seen += [r["id"] for r in page["Resources"]]
        start += 3
    assert len(set(seen)) == 4
    assert four_users.scim.get("/Users", params={"startIndex": 0}).json()["startIndex"] == 1


def test_rfc7644_3_4_3_search_with_post(four_users: Tenant) -> None:
    body = {
        "schemas": [SEARCH],
        "attributes": ["displayName", "userName"],
        "filter": 'userName sw "b"',
        "startIndex": 1,
        "count": 10,
    }
    answer = four_users.scim.post("/Users/.search", body).json()
    assert [set(r) for r in answer["Resources"]] == [
        {"id", "schemas", "meta", "displayName", "userName"}
    ]
    root = four_users.scim.post(
        "/.search", {"schemas": [SEARCH], "filter": 'userName sw "b"'}
    ).json()
    assert root["totalResults"] == 1


def test_rfc7644_3_5_1_put_replaces_the_resource(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann", title="Engineer")).json()
    replacement = entra_user("ann", nickName="Annie")
    answer = acme.scim.put(f"/Users/{created['id']}", replacement)
    assert answer.status_code == 200
    body = answer.json()
    assert body["nickName"] == "Annie"
    assert "title" not in body
    assert body["meta"]["version"] == 'W/"2"'
    assert body["meta"]["created"] == created["meta"]["created"]


def test_rfc7644_3_5_2_1_patch_add_emails(acme: Tenant) -> None:
    # samples/rfc7644-3.5.2.1-patch_op-add_emails.json
    created = acme.scim.post("/Users", entra_user("ann")).json()
    answer = acme.scim.patch(
        f"/Users/{created['id']}",
        [{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}]}}],
        params={"attributes": "emails"},
    )
    assert answer.status_code == 200
    values = [e["value"] for e in answer.json()["emails"]]
    assert values == ["ann@contoso.com", "babs@jensen.org"]


def test_rfc7644_3_5_2_2_patch_remove_and_no_target(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann", title="Engineer")).json()
    removed = acme.scim.patch(f"/Users/{created['id']}", [{"op": "remove", "path": "title"}])
    assert removed.status_code == 204
    assert "title" not in acme.scim.get(f"/Users/{created['id']}").json()
    no_target = acme.scim.patch(f"/Users/{created['id']}", [{"op": "remove"}])
    assert no_target.status_code == 400
    assert no_target.json()["scimType"] == "noTarget"


def test_rfc7644_3_5_2_patch_is_atomic(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann", title="Engineer")).json()
    answer = acme.scim.patch(
        f"/Users/{created['id']}",
        [
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "replace", "path": "noSuchAttribute", "value": "x"},
        ],
    )
    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidPath"
    after = acme.scim.get(f"/Users/{created['id']}").json()
    assert after["title"] == "Engineer"
    assert after["meta"]["version"] == 'W/"1"'


def test_rfc7644_3_5_2_3_patch_replace_value_path_creates_the_item(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann")).json()
    acme.scim.patch(
        f"/Users/{created['id']}",
        [{"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "123"}],
    )
    body = acme.scim.get(f"/Users/{created['id']}").json()
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "123"}]


def test_rfc7644_3_6_delete(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann")).json()
    assert acme.scim.delete(f"/Users/{created['id']}").status_code == 204
    assert acme.scim.get(f"/Users/{created['id']}").status_code == 404
    assert acme.scim.delete(f"/Users/{created['id']}").status_code == 404


def test_rfc7644_3_7_bulk_with_bulk_id_references(acme: Tenant) -> None:
    # RFC 7644 §3.7.2: a group created with a member created in the same request.
    body = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "ytrewq",
                "data": {
                    "schemas": [GROUP_SCHEMA],
                    "displayName": "Tour Guides",
                    "members": [{"type": "User", "value": "bulkId:qwerty"}],
                },
            },
        ],
    }
    unresolved = acme.scim.post("/Bulk", body).json()
    assert unresolved["Operations"][0]["status"] == "400"
    body["Operations"].insert(
        0, {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": entra_user("alice")}
    )
    answer = acme.scim.post("/Bulk", body)
    assert answer.status_code == 200
    result = answer.json()
    assert result["schemas"] == [BULK_RESPONSE]
    assert [op["status"] for op in result["Operations"]] == ["201", "201"]
    group = acme.scim.get(result["Operations"][1]["location"].split("/scim/v2")[1]).json()
    user_id = result["Operations"][0]["location"].rsplit("/", 1)[1]
    assert [m["value"] for m in group["members"]] == [user_id]


def test_rfc7644_3_7_3_fail_on_errors(acme: Tenant) -> None:
    body = {
        "schemas": [BULK],
        "failOnErrors": 1,
        "Operations": [
            {"method": "DELETE", "path": "/Users/missing"},
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": entra_user("ann")},
        ],
    }
    result = acme.scim.post("/Bulk", body).json()
    assert [op["status"] for op in result["Operations"]] == ["404"]
    assert acme.scim.get("/Users").json()["totalResults"] == 0


def test_rfc7644_3_7_4_too_many_operations(acme: Tenant) -> None:
    operations = [{"method": "DELETE", "path": f"/Users/{i}"} for i in range(21)]
    answer = acme.scim.post("/Bulk", {"schemas": [BULK], "Operations": operations})
    assert answer.status_code == 413


def test_rfc7644_3_14_etags(acme: Tenant) -> None:
    created = acme.scim.post("/Users", entra_user("ann"))
    location = f"/Users/{created.json()['id']}"
    tag = created.headers["ETag"]
    unchanged = acme.scim.get(location, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    stale = acme.scim.patch(
        location, [{"op": "replace", "path": "title", "value": "x"}], headers={"If-Match": 'W/"7"'}
    )
    assert stale.status_code == 412
    fresh = acme.scim.patch(
        location, [{"op": "replace", "path": "title", "value": "x"}], headers={"If-Match": tag}
    )
    assert fresh.status_code == 204
    assert fresh.headers["ETag"] == 'W/"2"'
    assert acme.scim.get(location, headers={"If-None-Match": tag}).status_code == 200


def test_rfc7644_4_discovery_lists_every_attribute(acme: Tenant) -> None:
    types = acme.scim.get("/ResourceTypes").json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    user_type = acme.scim.get("/ResourceTypes/User").json()
    assert user_type["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    enterprise = acme.scim.get(f"/Schemas/{ENTERPRISE}").json()
    names = {a["name"] for a in enterprise["attributes"]}
    assert {
        "employeeNumber",
        "department",
        "costCenter",
        "organization",
        "division",
        "manager",
    } <= names
    user = acme.scim.get(f"/Schemas/{USER_SCHEMA}").json()
    emails = next(a for a in user["attributes"] if a["name"] == "emails")
    assert {s["name"] for s in emails["subAttributes"]} >= {"value", "type", "primary"}
    spc = acme.scim.get("/ServiceProviderConfig").json()
    assert [spc[name]["supported"] for name in ("patch", "bulk", "etag", "sort")] == [True] * 4
    assert spc["bulk"]["maxOperations"] == 20
