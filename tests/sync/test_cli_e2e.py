"""``timus-gateway sync run`` end to end: a real process, the fake served over HTTPS on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret, SecretBox, generate_key
from gateway.store.engine import make_engine
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.integrations import (
    EntraCredentials,
    Preferences,
    save_integration,
    save_preferences,
)
from gateway.store.migrate import upgrade_schema
from tests.fakes.entra import EntraState, ServedFake
from tests.store.apply_helpers import new_tenant, user_tags, users_by_email


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_run_against_the_fake_over_https(
    tmp_path: Path, entra_state: EntraState, entra_https: ServedFake
) -> None:
    entra = entra_state.add_tenant("Contoso")
    app = entra.add_app()
    users = [
        entra.create_user(f"User {i}", user_principal_name=f"user{i}@{entra.default_domain}")
        for i in range(30)
    ]
    group = entra.create_group("Sales")
    for user in users[:25]:
        entra.add_member(group["id"], user["id"])
    key = generate_key()
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine = make_engine(database)
    upgrade_schema(engine)
    tenant_id = new_tenant(engine)
    assert entra_https.ca_bundle is not None
    cloud = CloudEndpoints(entra_https.base_url, entra_https.base_url)
    save_integration(
        engine,
        SecretBox.from_keys([key]),
        tenant_id,
        EntraCredentials(entra.id, app.client_id, Secret(app.secrets[0].value), cloud),
        actor="test",
    )
    set_status(engine, tenant_id, VALIDATED, None)
    save_preferences(engine, tenant_id, Preferences(True, (group["id"],), ()), actor="test")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_SECRET_KEYS": key,
        "SSL_CERT_FILE": str(entra_https.ca_bundle),
    }

    preview = _cli(["sync", "run", "--tenant", tenant_id, "--dry-run"], env)
    assert users_by_email(engine, tenant_id) == {}
    first = _cli(["sync", "run", "--tenant", tenant_id, "--json"], env)
    entra.remove_member(group["id"], users[0]["id"])
    second = _cli(["sync", "run", "--tenant", tenant_id], env)

    assert preview.returncode == 0, preview.stderr + preview.stdout
    assert "Diff (" in preview.stdout
    assert "user.created" in preview.stdout
    assert first.returncode == 0, first.stderr + first.stdout
    run = json.loads(first.stdout)["run"]
    assert (run["kind"], run["status"]) == ("full", "succeeded")
    assert run["counts"]["user_created"] == 25
    assert run["report"]["graph_requests"] > 0
    assert second.returncode == 0, second.stderr + second.stdout
    assert "(delta, incremental): succeeded" in second.stdout
    stored = users_by_email(engine, tenant_id)
    assert sum(u.active for u in stored.values()) == 24
    assert len(user_tags(engine, tenant_id)) == 24
    engine.dispose()


def test_a_failing_run_exits_1_with_the_cause(
    tmp_path: Path, entra_state: EntraState, entra_https: ServedFake
) -> None:
    entra = entra_state.add_tenant("Contoso")
    app = entra.add_app()
    key = generate_key()
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine = make_engine(database)
    upgrade_schema(engine)
    tenant_id = new_tenant(engine)
    cloud = CloudEndpoints(entra_https.base_url, entra_https.base_url)
    save_integration(
        engine,
        SecretBox.from_keys([key]),
        tenant_id,
        EntraCredentials(entra.id, app.client_id, Secret("wrong secret"), cloud),
        actor="test",
    )
    set_status(engine, tenant_id, VALIDATED, None)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_SECRET_KEYS": key,
        "SSL_CERT_FILE": str(entra_https.ca_bundle),
    }

    result = _cli(["sync", "run", "--tenant", tenant_id, "--json"], env)

    assert result.returncode == 1
    run = json.loads(result.stdout)["run"]
    assert run["status"] == "failed"
    assert run["report"]["cause"] == "invalid_client_secret"
    assert "wrong secret" not in result.stdout + result.stderr
    engine.dispose()
