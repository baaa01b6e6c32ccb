"""RFC 7643/7644 conformance: scim2-tester (through the scim2 CLI) against the served service.

The checker creates, reads, queries, replaces, patches (add, replace, remove
on every attribute) and deletes users and groups, and reads the discovery
endpoints; every check must succeed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.crypto import generate_key
from gateway.settings import Settings
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from tests.scim.live import serving


def _scim2() -> str:
    found = shutil.which("scim2", path=str(Path(sys.executable).parent))
    assert found is not None, "the scim2 CLI (scim2-cli) is a dev dependency"
    return found


def test_scim2_tester_finds_no_failure(engine: Engine) -> None:
    tenant = create_tenant(engine, "Conformance", actor="test")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="test")
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_keys=generate_key(),
    )
    with serving(settings) as live:
        result = subprocess.run(
            [_scim2(), "--url", live.base_url, "test"],
            env={**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    lines = result.stdout.splitlines()
    failures = [line for line in lines if line.split(" ")[0] in ("ERROR", "CRITICAL")]
    successes = [line for line in lines if line.startswith("SUCCESS")]
    assert failures == [], result.stdout
    assert len(successes) >= 100, result.stdout + result.stderr
    assert result.returncode == 0, result.stderr


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The checker must reach the loopback server directly.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
