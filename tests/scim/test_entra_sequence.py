"""Entra's provisioning sequence replayed over real HTTP against the served service.

The requests follow Microsoft's "Tutorial: Develop and plan provisioning for a
SCIM endpoint in Microsoft Entra ID" (Test Connection, user and group
operations) and "Known issues and resolutions with SCIM 2.0 protocol
compliance of the Microsoft Entra user provisioning service" (capitalised
ops, "True"/"False", path-less Replace with dotted keys, members removed with
a value list). Requests carry no User-Agent, as the provisioning service's
do not always. What lands in the identity store is read through the store's
admin-facing functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from gateway.crypto import generate_key
from gateway.identity.model import Source, SourceUser
from gateway.identity.rules import ENTRA_TEAM_NAME
from gateway.settings import Settings
from gateway.store.apply import apply_changes
from gateway.store.runs import list_runs
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from gateway.store.users import UserFilter, UserView, list_users
from tests.scim.client import ENTERPRISE, PATCH_OP, entra_group, entra_user
from tests.scim.live import Live, serving


@pytest.fixture
def live(engine: Engine) -> Iterator[Live]:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_keys=generate_key(),
    )
    with serving(settings) as served:
        yield served


class Entra:
    """The provisioning service's side: one tenant's token, no User-Agent."""

    def __init__(self, live: Live, token: str) -> None:
        self.live = live
        self.http = httpx.Client(
            base_url=live.base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
            timeout=30,
        )
        del self.http.headers["User-Agent"]

    def find_user(self, user_name: str) -> dict[str, Any]:
        answer = self.http.get("/Users", params={"filter": f'userName eq "{user_name}"'})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/scim+json")
        body: dict[str, Any] = answer.json()
        return body

    def patch(self, path: str, operations: list[dict[str, Any]]) -> httpx.Response:
        return self.http.patch(path, json={"schemas": [PATCH_OP], "Operations": operations})


def _identity(engine: Engine, tenant_id: str, email: str) -> UserView:
    page = list_users(engine, tenant_id, filters=UserFilter(email=email))
    assert len(page.items) == 1, page.items
    return page.items[0]


def test_entra_provisioning_sequence(engine: Engine, live: Live) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="test")
    entra = Entra(live, token)
    assert "user-agent" not in entra.http.headers

    # Test Connection: a filter on a random value answers 200 with no result.
    probe = entra.find_user(str(uuid.uuid4()))
    assert probe["totalResults"] == 0
    assert probe["Resources"] == []

    # Each user is looked up by userName before it is created.
    assert entra.find_user("ann@contoso.com")["totalResults"] == 0
    created = entra.http.post("/Users", json=entra_user("ann"))
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["active"] is True
    assert created.headers["Location"] == ann["meta"]["location"]
    assert entra.find_user("ANN@contoso.com")["Resources"][0]["id"] == ann["id"]

    bob = entra.http.post("/Users", json=entra_user("bob")).json()

    # Groups: looked up by displayName without members, created, members added with "$ref": null.
    lookup = entra.http.get(
        "/Groups",
        params={"filter": 'displayName eq "Sales"', "excludedAttributes": "members"},
    )
    assert lookup.json()["totalResults"] == 0
    group = entra.http.post("/Groups", json=entra_group("Sales")).json()
    added = entra.patch(
        f"/Groups/{group['id']}",
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": ann["id"]}, {"$ref": None, "value": bob["id"]}],
            }
        ],
    )
    assert added.status_code in (200, 204), added.text

    # User updates in Entra's forms.
    updated = entra.patch(
        f"/Users/{ann['id']}",
        [
            {"op": "Replace", "path": "displayName", "value": "Ann Smith"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
            {
                "op": "Replace",
                "value": {"name.givenName": "Annie", f"{ENTERPRISE}:employeeNumber": "42"},
            },
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": bob["id"]},
        ],
    )
    assert updated.status_code in (200, 204), updated.text
    read = entra.http.get(f"/Users/{ann['id']}").json()
    assert read["displayName"] == "Ann Smith"
    assert read["name"]["givenName"] == "Annie"
    assert read["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert read[ENTERPRISE]["employeeNumber"] == "42"
    assert read[ENTERPRISE]["manager"]["value"] == bob["id"]

    live.applier.flush()
    identity = _identity(engine, tenant.id, "ann@contoso.com")
    assert identity.active
    assert identity.display_name == "Ann Smith"
    assert ENTRA_TEAM_NAME in identity.access.teams
    assert identity.access.tags == ("Sales",)

    # Soft delete: active "False"; the user is still served and found.
    disabled = entra.patch(
        f"/Users/{ann['id']}", [{"op": "Replace", "path": "active", "value": "False"}]
    )
    assert disabled.status_code in (200, 204)
    assert entra.http.get(f"/Users/{ann['id']}").json()["active"] is False
    assert entra.find_user("ann@contoso.com")["Resources"][0]["active"] is False
    filtered = entra.http.get("/Users", params={"filter": "active eq false"}).json()
    assert [r["id"] for r in filtered["Resources"]] == [ann["id"]]
    live.applier.flush()
    identity = _identity(engine, tenant.id, "ann@contoso.com")
    assert not identity.active
    assert identity.access.tags == ()

    # Reactivation restores the memberships exactly (rule 8 kept them).
    entra.patch(f"/Users/{ann['id']}", [{"op": "Replace", "path": "active", "value": "True"}])
    live.applier.flush()
    identity = _identity(engine, tenant.id, "ann@contoso.com")
    assert identity.active
    assert identity.access.tags == ("Sales",)
    assert ENTRA_TEAM_NAME in identity.access.teams

    # Remove with a value list removes only those members; again is a no-op.
    for _ in range(2):
        removed = entra.patch(
            f"/Groups/{group['id']}",
            [{"op": "Remove", "path": "members", "value": [{"value": bob["id"]}]}],
        )
        assert removed.status_code in (200, 204), removed.text
    members = entra.http.get(f"/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == [ann["id"]]
    entra.patch(
        f"/Groups/{group['id']}",
        [{"op": "Remove", "path": f'members[value eq "{ann["id"]}"]'}],
    )
    assert "members" not in entra.http.get(f"/Groups/{group['id']}").json()
    live.applier.flush()
    assert _identity(engine, tenant.id, "ann@contoso.com").access.tags == ()

    # Hard delete: 204, then 404 on every later call; the userName is free again.
    assert entra.http.delete(f"/Users/{ann['id']}").status_code == 204
    assert entra.http.get(f"/Users/{ann['id']}").status_code == 404
    assert (
        entra.patch(
            f"/Users/{ann['id']}", [{"op": "Replace", "path": "active", "value": True}]
        ).status_code
        == 404
    )
    assert entra.http.put(f"/Users/{ann['id']}", json=entra_user("ann")).status_code == 404
    assert entra.http.delete(f"/Users/{ann['id']}").status_code == 404
    assert entra.find_user("ann@contoso.com")["totalResults"] == 0
    live.applier.flush()
    assert not _identity(engine, tenant.id, "ann@contoso.com").active
    again = entra.http.post("/Users", json=entra_user("ann"))
    assert again.status_code == 201
    assert again.json()["id"] != ann["id"]
    entra.http.close()


def test_external_id_object_id_joins_the_graph_user(engine: Engine, live: Live) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="test")
    object_id = str(uuid.uuid4())
    apply_changes(
        engine,
        tenant.id,
        Source.GRAPH,
        users=[
            SourceUser(
                external_id=object_id,
                primary_email="cara@contoso.com",
                user_name="cara@contoso.com",
                entra_object_id=object_id,
            )
        ],
    )
    entra = Entra(live, token)
    created = entra.http.post("/Users", json=entra_user("cara", object_id=object_id))
    assert created.status_code == 201
    live.applier.flush()
    everyone = list_users(engine, tenant.id).items
    assert [(u.primary_email, u.entra_object_id) for u in everyone] == [
        ("cara@contoso.com", object_id)
    ]
    entra.http.close()


def test_refusals_and_warnings_reach_the_admin_report(engine: Engine, live: Live) -> None:
    tenant = create_tenant(engine, "Contoso", actor="test")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="test")
    entra = Entra(live, token)

    no_mail = entra_user("dan")
    del no_mail["emails"]
    refused = entra.http.post("/Users", json=no_mail)
    assert refused.status_code == 400
    assert refused.json()["scimType"] == "invalidValue"
    assert "Primary Email" in refused.json()["detail"]
    assert entra.find_user("dan@contoso.com")["totalResults"] == 0

    mismatch = entra_user("eve", userName="eve.upn@contoso.com")
    assert entra.http.post("/Users", json=mismatch).status_code == 201
    long_name = "A group name far longer than twenty-nine characters"
    assert entra.http.post("/Groups", json=entra_group(long_name)).status_code == 201
    live.applier.flush()

    runs = list_runs(engine, tenant.id).items
    assert [(r.source, r.kind) for r in runs] == [("scim", "push")]
    report = runs[0]
    assert report.counts["users_refused"] == 1
    codes = {w["code"] for w in report.warnings}
    assert codes == {"no_primary_email", "sso_username_mismatch", "group_name_too_long"}
    eve = _identity(engine, tenant.id, "eve@contoso.com")
    assert eve.user_name == "eve.upn@contoso.com"
    assert eve.access.warnings == ("sso_username_mismatch",)
    entra.http.close()
