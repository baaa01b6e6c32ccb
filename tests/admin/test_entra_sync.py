"""The integration's Graph side through the admin API, against the Entra fake."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.services import Services
from gateway.store.graph_sync import set_status
from gateway.store.integrations import NOT_VALIDATED
from tests.admin.conftest import ENTRA_CLIENT, ENTRA_TENANT, Tenant, snapshot
from tests.fakes.entra import EntraState

BASE = "/tenants/{}/integrations/entra"


def body(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "tenant_id": ENTRA_TENANT,
        "client_id": ENTRA_CLIENT,
        "client_secret": "the-client-secret",
        "cloud": "global",
    }
    value.update(changes)
    return value


@pytest.mark.parametrize(
    ("changes", "cause", "says"),
    [
        ({"client_secret": "secret-id-not-value"}, "invalid_client_secret", "not its Secret ID"),
        (
            {"client_id": "99999999-2222-4333-8444-555555555555"},
            "client_not_in_tenant",
            "Application (client) ID",
        ),
        (
            {"tenant_id": "0f0e1c2a-1111-4a2b-9c3d-0123456789ab"},
            "tenant_not_found",
            "Directory (tenant) ID",
        ),
    ],
)
def test_bad_credentials_are_422_by_cause_and_save_nothing(
    services: Services, acme: Tenant, changes: dict[str, Any], cause: str, says: str
) -> None:
    before = snapshot(services.engine)

    response = acme.admin.put(BASE.format(acme.id), json=body(**changes))

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["cause"] == cause
    assert says in error["message"]
    if cause != "tenant_not_found":
        assert error["details"]["trace_id"]
        assert error["details"]["correlation_id"]
    assert snapshot(services.engine) == before


def test_consent_granted_after_a_refusal_is_seen_at_once(
    acme: Tenant, entra_state: EntraState
) -> None:
    app = entra_state.tenants[ENTRA_TENANT].apps[ENTRA_CLIENT]
    app.roles.clear()
    app.roles.add("User.Read.All")

    refused = acme.admin.put(BASE.format(acme.id), json=body())
    app.roles.add("Group.Read.All")
    accepted = acme.admin.put(BASE.format(acme.id), json=body())

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["details"]["cause"] == "admin_consent_missing"
    assert "Group.Read.All" in error["message"]
    assert "Grant admin consent" in error["message"]
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "validated"


def test_preferences_are_refused_until_the_credentials_are_validated(
    services: Services, acme: Tenant
) -> None:
    acme.admin.put(BASE.format(acme.id), json=body())
    set_status(services.engine, acme.id, NOT_VALIDATED, None)

    response = acme.admin.put(
        f"{BASE.format(acme.id)}/preferences",
        json={"sync_enabled": True, "groups": [], "sites": []},
    )

    assert response.status_code == 409
    assert "validated" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("days", "warning"),
    [
        (45, None),
        (20, "expires_within_30_days"),
        (5, "expires_within_7_days"),
        (0.5, "expires_within_1_day"),
    ],
)
def test_secret_expiry_warnings(acme: Tenant, days: float, warning: str | None) -> None:
    expires = datetime.now(UTC) + timedelta(days=days)

    out = acme.admin.put(
        BASE.format(acme.id), json=body(secret_expires_at=expires.isoformat())
    ).json()

    assert out["secret_warning"] == warning
    assert (out["secret_warning_message"] is None) == (warning is None)


def test_the_group_picker_searches_pages_and_flags_names(
    acme: Tenant, entra_state: EntraState
) -> None:
    entra = entra_state.tenants[ENTRA_TENANT]
    for i in range(3):
        entra.create_group(f"Sales {i}")
    entra.create_group("Sales team with a name longer than 29")
    entra.create_group("Sales 1")
    entra.create_group("Other")
    entra.create_group("Sales mail list", security_enabled=False, mail_enabled=True)
    acme.admin.put(BASE.format(acme.id), json=body())
    url = f"{BASE.format(acme.id)}/groups"

    first = acme.admin.get(url, params={"search": "sales", "limit": "3"}).json()
    second = acme.admin.get(url, params={"search": "sales", "cursor": first["next_cursor"]}).json()

    items = first["items"] + second["items"]
    assert second["next_cursor"] is None
    names = sorted(i["display_name"] for i in items)
    assert names == sorted(
        ["Sales 0", "Sales 1", "Sales 1", "Sales 2", "Sales team with a name longer than 29"]
    )
    long_one = next(i for i in items if i["display_name"].startswith("Sales team"))
    assert long_one["will_be_tagged"] is False
    assert long_one["warnings"]


def test_the_group_picker_marks_names_another_security_group_of_the_tenant_has(
    acme: Tenant, entra_state: EntraState
) -> None:
    entra = entra_state.tenants[ENTRA_TENANT]

    def group(n: int, name: str, **kwargs: Any) -> None:
        # Pages are in id order: the ids decide which group lands on which page.
        entra.create_group(name, group_id=f"00000000-0000-4000-8000-{n:012d}", **kwargs)

    group(1, "Finance")
    group(2, "Fin's team")
    group(3, "fin's team")
    group(4, "Fin ops")
    group(5, "Fin ops", security_enabled=False, mail_enabled=True)
    group(6, "Fin only once")
    group(7, "FINANCE")
    acme.admin.put(BASE.format(acme.id), json=body())
    url = f"{BASE.format(acme.id)}/groups"
    entra_state.requests.reset()

    first = acme.admin.get(url, params={"search": "Fin", "limit": "4"}).json()
    second = acme.admin.get(url, params={"search": "Fin", "cursor": first["next_cursor"]}).json()

    marked = {i["display_name"]: i["duplicate_name"] for i in first["items"]}
    assert marked == {"Finance": True, "Fin's team": True, "fin's team": True, "Fin ops": False}
    assert {i["display_name"]: i["duplicate_name"] for i in second["items"]} == {
        "Fin only once": False,
        "FINANCE": True,
    }
    finance = first["items"][0]
    assert any("same tag" in w for w in finance["warnings"])
    # Per page: the search and one $batch of a filtered read per distinct name.
    assert entra_state.requests.count("GET", "/v1.0/groups") == 2
    assert entra_state.requests.count("POST", "/v1.0/$batch") == 2
    assert entra_state.requests.count("GET", "/v1.0/groups", in_batch=True) == 3 + 2


def test_the_group_picker_refuses_a_forged_cursor(acme: Tenant) -> None:
    acme.admin.put(BASE.format(acme.id), json=body())
    forged = base64.urlsafe_b64encode(b"https://evil.example/v1.0/groups?x").decode()

    response = acme.admin.get(f"{BASE.format(acme.id)}/groups", params={"cursor": forged})

    assert response.status_code == 422


def test_sync_dry_run_then_real_run_then_report(acme: Tenant, entra_state: EntraState) -> None:
    entra = entra_state.tenants[ENTRA_TENANT]
    ann = entra.create_user("Ann", user_principal_name=f"ann@{entra.default_domain}")
    group = entra.create_group("Sales")
    entra.add_member(group["id"], ann["id"])
    base = BASE.format(acme.id)
    acme.admin.put(base, json=body())
    acme.admin.put(
        f"{base}/preferences", json={"sync_enabled": True, "groups": [group["id"]], "sites": []}
    )

    preview = acme.admin.post(f"{base}/sync", params={"dry_run": "true"})
    assert acme.admin.get(f"/tenants/{acme.id}/users").json()["items"] == []
    run = acme.admin.post(f"{base}/sync")
    report = acme.admin.get(f"{base}/sync-runs/{run.json()['id']}").json()

    assert preview.status_code == 200, preview.text
    assert preview.json()["status"] == "dry_run"
    assert preview.json()["dry_run"] is True
    assert {c["action"] for c in preview.json()["changes"]} >= {"user.created"}
    assert run.json()["status"] == "succeeded"
    assert report["report"]["graph_requests"] > 0
    assert report["report"]["kind"] == "full"
    [user] = acme.admin.get(f"/tenants/{acme.id}/users").json()["items"]
    assert user["tags"] == ["Sales"]


def test_a_run_waiting_for_confirmation_is_confirmed_through_the_api(
    acme: Tenant, entra_state: EntraState
) -> None:
    entra = entra_state.tenants[ENTRA_TENANT]
    group = entra.create_group("Sales")
    users = [
        entra.create_user(f"U{i}", user_principal_name=f"u{i}@{entra.default_domain}")
        for i in range(12)
    ]
    for user in users:
        entra.add_member(group["id"], user["id"])
    base = BASE.format(acme.id)
    acme.admin.put(base, json=body())
    acme.admin.put(
        f"{base}/preferences", json={"sync_enabled": True, "groups": [group["id"]], "sites": []}
    )
    acme.admin.post(f"{base}/sync")
    for user in users:
        entra.remove_member(group["id"], user["id"])

    stopped = acme.admin.post(f"{base}/sync").json()
    confirmed = acme.admin.post(f"{base}/sync-runs/{stopped['id']}/confirm")
    again = acme.admin.post(f"{base}/sync-runs/{stopped['id']}/confirm")

    assert stopped["status"] == "needs_confirmation"
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["counts"]["user_deactivated"] == 12
    assert again.status_code == 409
