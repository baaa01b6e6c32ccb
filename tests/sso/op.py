"""A real, independent OpenID Provider on loopback: the OpenID-certified npm
package ``oidc-provider``, configured like Entra ID by ``op/launcher.mjs``.

The suite installs it once into a cache directory (keyed by the pinned
``op/package.json``, guarded by a file lock so parallel workers install once)
and starts one provider process per gateway under test.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "op"
IN_CI = os.environ.get("CI", "").lower() == "true"
START_TIMEOUT = 60


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (the SSO end-to-end tests are mandatory in CI)")
    pytest.skip(reason)


def install_provider() -> Path:
    """The directory holding the launcher and its ``node_modules`` (installed once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed to run the OpenID Provider of the SSO tests")
    manifest = (HERE / "package.json").read_bytes()
    key = hashlib.sha256(manifest + (HERE / "launcher.mjs").read_bytes()).hexdigest()[:16]
    cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    target = cache_root / "timus-gateway-tests" / f"oidc-provider-{key}"
    target.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "node_modules" / "oidc-provider" / "package.json").exists():
            shutil.copy(HERE / "package.json", target / "package.json")
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--omit=dev"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if result.returncode != 0:
                _unavailable(f"npm install of oidc-provider failed: {result.stderr[-2000:]}")
        shutil.copy(HERE / "launcher.mjs", target / "launcher.mjs")
    return target


@dataclass(frozen=True)
class Account:
    """An Entra user of the provider: signs in with ``login`` at ``tenant``'s issuer."""

    login: str
    tenant: str
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Provider:
    port: int
    process: subprocess.Popen[str]

    @property
    def login_url(self) -> str:
        """The authority host root, as the integration's custom cloud names it."""
        return f"http://127.0.0.1:{self.port}"

    def issuer(self, tenant: str) -> str:
        return f"{self.login_url}/{tenant}/v2.0"


@contextmanager
def run_provider(
    directory: Path,
    *,
    tenants: list[str],
    client_id: str,
    client_secret: str,
    redirect_uris: list[str],
    accounts: list[Account],
    aliases: Mapping[str, str] | None = None,
) -> Iterator[Provider]:
    """Start the provider on 127.0.0.1 (port 0), yield it, stop it."""
    config = {
        "tenants": tenants,
        "client": {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": [uri + "/signed-out" for uri in redirect_uris],
        },
        "accounts": {a.login: {"tenant": a.tenant, "claims": dict(a.claims)} for a in accounts},
        "aliases": dict(aliases or {}),
    }
    process = subprocess.Popen(
        ["node", "launcher.mjs"],
        cwd=directory,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(config))
        process.stdin.close()
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the OpenID Provider did not start (exit {process.wait(10)})")
        yield Provider(port=int(json.loads(line)["port"]), process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
