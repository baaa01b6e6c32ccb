from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy import Engine, select

from gateway.crypto import Secret
from gateway.errors import NotFoundError, ValidationFailedError
from gateway.store import audit
from gateway.store.engine import read_transaction
from gateway.store.integrations import (
    CloudEndpoints,
    Preferences,
    SiteGrantSpec,
    get_integration,
    get_preferences,
    load_client_secret,
    save_integration,
    save_preferences,
    set_enabled,
)
from gateway.store.queries import table
from gateway.store.sites import create_site
from gateway.store.tenants import create_tenant
from tests import store_seed as seed

GROUP_A = "aaaaaaaa-0000-4000-8000-000000000001"
GROUP_B = "bbbbbbbb-0000-4000-8000-000000000002"


def test_secret_is_stored_encrypted_and_never_returned(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = seed.secret_box()
    tenant = create_tenant(engine, "Acme", actor="cli")

    record = save_integration(engine, box, tenant.id, seed.credentials(), actor="a")

    assert record.status == "not_validated"
    assert record.enabled is True
    assert seed.SECRET_VALUE not in repr(record)
    assert seed.SECRET_VALUE not in repr(seed.credentials())
    with read_transaction(engine) as conn:
        row = conn.execute(select(table("integrations"))).one()._mapping
    assert seed.SECRET_VALUE.encode() not in bytes(row["secret_ciphertext"])
    secret = load_client_secret(engine, box, tenant.id)
    assert secret is not None
    assert secret.reveal() == seed.SECRET_VALUE
    for entry in audit.list_entries(engine, tenant.id):
        assert seed.SECRET_VALUE not in repr(entry)
    assert seed.SECRET_VALUE not in caplog.text


def test_saving_again_replaces_credentials_and_keeps_state(engine: Engine) -> None:
    box = seed.secret_box()
    tenant = create_tenant(engine, "Acme", actor="cli")
    save_integration(engine, box, tenant.id, seed.credentials(), actor="a")
    set_enabled(engine, tenant.id, False, actor="a")
    save_preferences(engine, tenant.id, Preferences(True, (GROUP_A,), (), 60), actor="a")

    cloud = CloudEndpoints(login_url="https://login.example", graph_url="https://graph.example")
    changed = replace(seed.credentials("new-secret"), cloud=cloud)
    record = save_integration(engine, box, tenant.id, changed, actor="a")

    assert record.cloud == cloud
    assert record.enabled is False
    assert get_preferences(engine, tenant.id).groups == (GROUP_A,)
    secret = load_client_secret(engine, box, tenant.id)
    assert secret == Secret("new-secret")


def test_enable_and_disable_are_audited_once_per_change(engine: Engine) -> None:
    box = seed.secret_box()
    tenant = create_tenant(engine, "Acme", actor="cli")
    seed.integration(engine, box, tenant.id)

    assert set_enabled(engine, tenant.id, False, actor="a").enabled is False
    assert set_enabled(engine, tenant.id, False, actor="a").enabled is False
    assert set_enabled(engine, tenant.id, True, actor="a").enabled is True

    actions = [e.action for e in audit.list_entries(engine, tenant.id)]
    assert actions.count("integration.disabled") == 1
    assert actions.count("integration.enabled") == 1


def test_missing_integration_is_not_found(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")

    assert get_integration(engine, tenant.id) is None
    assert load_client_secret(engine, seed.secret_box(), tenant.id) is None
    with pytest.raises(NotFoundError):
        set_enabled(engine, tenant.id, True, actor="a")
    with pytest.raises(NotFoundError):
        get_preferences(engine, tenant.id)


def test_preferences_replace_groups_and_site_grants(engine: Engine) -> None:
    box = seed.secret_box()
    tenant = create_tenant(engine, "Acme", actor="cli")
    seed.integration(engine, box, tenant.id)
    berlin = create_site(engine, tenant.id, "Berlin", actor="a")
    paris = create_site(engine, tenant.id, "Paris", actor="a")

    assert get_preferences(engine, tenant.id) == Preferences(False, (), (), 40)
    save_preferences(
        engine,
        tenant.id,
        Preferences(True, (GROUP_A, GROUP_B), (SiteGrantSpec(berlin.id, True),), 30),
        actor="a",
    )
    saved = save_preferences(
        engine,
        tenant.id,
        Preferences(True, (GROUP_B,), (SiteGrantSpec(paris.id, False),), 30),
        actor="a",
    )

    assert saved == Preferences(True, (GROUP_B,), (SiteGrantSpec(paris.id, False),), 30)
    assert get_preferences(engine, tenant.id) == saved
    entries = [e for e in audit.list_entries(engine, tenant.id) if e.subject_type == "integration"]
    assert entries[0].action == "integration.preferences_saved"
    assert entries[0].before["groups"] == [GROUP_A, GROUP_B]
    assert entries[0].after["sites"] == [{"site_id": str(paris.id), "remote_access": False}]


def test_preferences_refuse_sites_of_other_tenants_and_change_nothing(engine: Engine) -> None:
    box = seed.secret_box()
    tenant = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    seed.integration(engine, box, tenant.id)
    theirs = create_site(engine, other.id, "Paris", actor="a")

    with pytest.raises(ValidationFailedError) as caught:
        save_preferences(
            engine,
            tenant.id,
            Preferences(
                True, (GROUP_A,), (SiteGrantSpec(theirs.id, True), SiteGrantSpec(77, False)), 40
            ),
            actor="a",
        )

    assert caught.value.details["unknown_site_ids"] == sorted([str(theirs.id), "77"])
    assert get_preferences(engine, tenant.id) == Preferences(False, (), (), 40)


@pytest.mark.parametrize("minutes", [4, 1441])
def test_sync_interval_is_bounded(engine: Engine, minutes: int) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    seed.integration(engine, seed.secret_box(), tenant.id)
    with pytest.raises(ValidationFailedError):
        save_preferences(engine, tenant.id, Preferences(True, (), (), minutes), actor="a")
