"""``timus-gateway sync run`` end to end: a real process, the fake served over HTTPS on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway.crypto import generate_key
from gateway.store.engine import make_engine
from gateway.store.integrations import (
    Preferences,
    save_preferences,
)
from gateway.store.migrate import upgrade_schema
from tests.fakes.entra import EntraState, ServedFake
from tests.store.apply_helpers import user_tags, users_by_email
from tests.sync.served import connect_served_fake, gateway_environment


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
    tenant_id = connect_served_fake(
        engine, key, entra, app.client_id, app.secrets[0].value, entra_https
    )
    save_preferences(engine, tenant_id, Preferences(True, (group["id"],), ()), actor="test")
    env = gateway_environment(database, key, entra_https)

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
    tenant_id = connect_served_fake(engine, key, entra, app.client_id, "wrong secret", entra_https)
    env = gateway_environment(database, key, entra_https)

    result = _cli(["sync", "run", "--tenant", tenant_id, "--json"], env)

    assert result.returncode == 1
    run = json.loads(result.stdout)["run"]
    assert run["status"] == "failed"
    assert run["report"]["cause"] == "invalid_client_secret"
    assert "wrong secret" not in result.stdout + result.stderr
    engine.dispose()
