"""The ``timus-gateway`` command: output, --json, exit codes, and a real ``serve``."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.crypto import SecretBox, generate_key
from gateway.store.engine import make_engine
from gateway.store.migrate import head_revision
from gateway.store.tenants import get_tenant
from gateway.store.tokens import authenticate
from tests import store_seed as seed


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean GATEWAY_* environment pointing at a SQLite store under tmp_path."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    values = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    assert run("db", "upgrade").exit_code == 0
    return env


def test_help_and_version() -> None:
    assert run("--help").exit_code == 0
    assert "timus-gateway" in run("--version").output


def test_keys_generate() -> None:
    result = run("keys", "generate")
    assert result.exit_code == 0
    assert len(base64.urlsafe_b64decode(result.stdout.strip())) == 32
    data = json.loads(run("keys", "generate", "--json").stdout)
    assert data["key_id"] == SecretBox.from_keys([data["key"]]).primary_key_id


def test_db_upgrade_is_idempotent(env: dict[str, str]) -> None:
    first = run("db", "upgrade")
    assert first.exit_code == 0
    assert f"revision {head_revision()}" in first.stdout
    second = run("db", "upgrade", "--json")
    assert json.loads(second.stdout) == {"revision": head_revision()}


def test_commands_ask_for_upgrade_on_fresh_database(env: dict[str, str]) -> None:
    result = run("tenant", "create", "Acme")
    assert result.exit_code == 1
    assert "timus-gateway db upgrade" in result.stderr
    as_json = run("tenant", "create", "Acme", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "schema_not_current"


def test_tenant_create(migrated: dict[str, str]) -> None:
    result = run("tenant", "create", "Acme Corp")
    assert result.exit_code == 0
    tenant_id = result.stdout.strip()
    engine = make_engine(migrated["GATEWAY_DATABASE_URL"])
    try:
        record = get_tenant(engine, tenant_id)
    finally:
        engine.dispose()
    assert record is not None
    assert record.name == "Acme Corp"
    data = json.loads(run("tenant", "create", "Beta", "--json").stdout)
    assert data["name"] == "Beta"
    assert data["id"] != tenant_id


def test_tenant_create_rejects_blank_name(migrated: dict[str, str]) -> None:
    result = run("tenant", "create", "   ")
    assert result.exit_code == 2
    assert "Tenant name" in result.stderr


def test_token_create_operator_and_scim(migrated: dict[str, str]) -> None:
    operator = run("token", "create", "--kind", "admin")
    assert operator.exit_code == 0
    assert "not shown again" in operator.stderr
    operator_token = operator.stdout.strip()

    tenant_id = run("tenant", "create", "Acme").stdout.strip()
    scim = json.loads(
        run("token", "create", "--tenant", tenant_id, "--kind", "scim", "--json").stdout
    )
    assert scim["tenant_id"] == tenant_id
    assert scim["kind"] == "scim"

    engine = make_engine(migrated["GATEWAY_DATABASE_URL"])
    try:
        admin_record = authenticate(engine, operator_token, "admin")
        scim_record = authenticate(engine, scim["token"], "scim")
    finally:
        engine.dispose()
    assert admin_record is not None
    assert admin_record.is_operator
    assert scim_record is not None
    assert scim_record.tenant_id == tenant_id


def test_token_create_usage_errors(migrated: dict[str, str]) -> None:
    no_tenant = run("token", "create", "--kind", "scim")
    assert no_tenant.exit_code == 2
    assert "--tenant" in no_tenant.stderr
    assert run("token", "create", "--kind", "root").exit_code == 2
    assert run("token", "create").exit_code == 2


def test_token_create_unknown_tenant(migrated: dict[str, str]) -> None:
    result = run("token", "create", "--tenant", "nosuchtenant", "--kind", "admin")
    assert result.exit_code == 1
    assert "nosuchtenant" in result.stderr
    assert "timus-gateway tenant create" in result.stderr
    as_json = run("token", "create", "--tenant", "nosuchtenant", "--kind", "scim", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "unknown_tenant"


def _store_secret(database_url: str, key: str, tenant_id: str) -> str:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            key_id = seed.encrypted_integration(
                conn, SecretBox.from_keys([key]), tenant_id, "client-secret"
            )
    finally:
        engine.dispose()
    return key_id


def test_keys_rotate(migrated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    old_key, new_key = generate_key(), generate_key()
    tenant_id = run("tenant", "create", "Acme").stdout.strip()
    old_id = _store_secret(migrated["GATEWAY_DATABASE_URL"], old_key, tenant_id)

    monkeypatch.setenv("GATEWAY_SECRET_KEYS", new_key)
    missing = run("keys", "rotate")
    assert missing.exit_code == 1
    assert old_id in missing.stderr
    assert old_key not in missing.stderr + missing.stdout

    monkeypatch.setenv("GATEWAY_SECRET_KEYS", f"{new_key},{old_key}")
    result = run("keys", "rotate")
    assert result.exit_code == 0
    assert "Re-encrypted 1 " in result.stdout
    data = json.loads(run("keys", "rotate", "--json").stdout)
    assert data == {"rotated": 0, "key_id": SecretBox.from_keys([new_key]).primary_key_id}


def test_production_without_keys_is_refused(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://gw@127.0.0.1:1/gw")
    result = run("keys", "rotate")
    assert result.exit_code == 1
    assert "GATEWAY_SECRET_KEYS is required" in result.stderr
    assert "timus-gateway keys generate" in result.stderr


def test_unreachable_database(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://gw:pw-xyz@127.0.0.1:1/gw")
    result = run("db", "upgrade")
    assert result.exit_code == 1
    assert "GATEWAY_DATABASE_URL" in result.stderr
    assert "pw-xyz" not in result.stderr


def test_invalid_environment_names_variable(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "lots")
    result = run("db", "upgrade", "--json")
    assert result.exit_code == 1
    assert "GATEWAY_MAX_BODY_BYTES" in json.loads(result.stdout)["error"]["message"]


# --- a real server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command() -> list[str]:
    script = Path(sys.executable).with_name("timus-gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def serve_env(
    request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of a served gateway: SQLite with its key file, or
    PostgreSQL as production runs it, with GATEWAY_SECRET_KEYS."""
    if request.param == "postgres":
        production = {
            # Its own database: start-up refuses a store holding secrets
            # under keys it lacks, as other tests' stores do.
            "GATEWAY_DATABASE_URL": request.getfixturevalue("empty_postgres_url"),
            "GATEWAY_SECRET_KEYS": generate_key(),
        }
        for name, value in production.items():
            monkeypatch.setenv(name, value)
        env.update(production)
    return env


def test_serve_answers_health_readiness_and_admin_api(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    env = serve_env
    # The CLI writes into the same store the server then serves (serve upgrades first).
    assert run("db", "upgrade").exit_code == 0
    tenant_id = run("tenant", "create", "Acme").stdout.strip()
    admin_token = run("token", "create", "--kind", "admin").stdout.strip()

    port = _free_port()
    log_path = tmp_path / "serve.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | env
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--json"],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200
        tenant = httpx.get(
            f"{base}/api/v1/tenants/{tenant_id}",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=5,
        )
        assert tenant.status_code == 200
        assert tenant.json()["name"] == "Acme"
        assert "gateway_http_requests_total" in httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(timeout=20)
    log_text = log_path.read_text()
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert exit_code in (0, -signal.SIGTERM), log_text
    assert "Application shutdown complete" in log_text
    assert admin_token not in log_text
    lines = [json.loads(line) for line in log_text.splitlines() if line.strip()]
    assert any(line.get("route") == "/api/v1/tenants/{tenant_id}" for line in lines)
