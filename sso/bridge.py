"""The gateway as an OpenID issuer for the product's other services.

After a sign-in, a service asks ``/user/external/token`` (with the browser's
session cookie) for the gateway's own ID token: ES256-signed, naming the user,
their Primary Email, tenant, teams, tags and sites. The service verifies it
with the keys at ``/.well-known/jwks.json`` (found through
``/.well-known/openid-configuration``) and never talks to Entra.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.crypto import SecretBox
from gateway.settings import Settings
from gateway.store.sso_keys import SIGNING, active_keys
from gateway.store.sso_signin import BridgeSubject

ALGORITHM = "ES256"
# Keys are read from the store at most this often per process, so a key made
# by another replica shows up in every replica's key set soon after.
KEY_REFRESH_SECONDS = 60.0


def _new_signing_key() -> tuple[str, str]:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
    assert key.kid is not None
    return key.kid, key.as_pem(private=True).decode()


class BridgeIssuer:
    """Signs the gateway's ID tokens and publishes its keys."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._box = box
        self._clock = clock
        self.issuer = settings.public_url
        self.audience = settings.sso_bridge_audience
        self.lifetime = settings.sso_bridge_token_minutes * 60
        self._keys: list[ECKey] = []
        self._loaded_at = float("-inf")

    def keys(self) -> list[ECKey]:
        """The signing keys, newest first (blocking: call from a worker thread)."""
        now = time.monotonic()
        if not self._keys or now - self._loaded_at >= KEY_REFRESH_SECONDS:
            stored = active_keys(self._engine, self._box, SIGNING, _new_signing_key)
            self._keys = [
                ECKey.import_key(
                    key.private.reveal(),
                    parameters={"kid": key.kid, "use": "sig", "alg": ALGORITHM},
                )
                for key in stored
            ]
            self._loaded_at = now
        return self._keys

    def issue(self, subject: BridgeSubject, *, auth_time: int | None = None) -> tuple[str, int]:
        """A signed ID token for ``subject`` and its lifetime in seconds."""
        key = self.keys()[0]
        now = int(self._clock())
        access = subject.access
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(subject.user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "email": subject.primary_email,
            "name": subject.display_name,
            "tenant_id": subject.tenant_id,
            "entra_oid": subject.entra_object_id,
            "teams": list(access.teams),
            "tags": list(access.tags),
            "sites": [
                {"site_id": str(site.site_id), "remote_access": site.remote_access}
                for site in access.sites
            ],
        }
        if auth_time is not None:
            claims["auth_time"] = auth_time
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM]), self.lifetime

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys()]}

    def discovery(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 section 3, for a token-only issuer."""
        base = self.issuer
        return {
            "issuer": base,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "authorization_endpoint": f"{base}/user/external/login",
            "token_endpoint": f"{base}/user/external/token",
            "end_session_endpoint": f"{base}/user/external/logout",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "claims_supported": [
                "iss",
                "aud",
                "sub",
                "iat",
                "nbf",
                "exp",
                "auth_time",
                "email",
                "name",
                "tenant_id",
                "entra_oid",
                "teams",
                "tags",
                "sites",
            ],
        }


def well_known_routes(issuer: BridgeIssuer) -> list[Route]:
    """``/.well-known/jwks.json`` and ``/.well-known/openid-configuration``."""

    async def jwks(_request: Request) -> Response:
        document = await run_in_threadpool(issuer.jwks)
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def configuration(_request: Request) -> Response:
        return JSONResponse(issuer.discovery(), headers={"Cache-Control": "public, max-age=3600"})

    return [
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/openid-configuration", configuration, methods=["GET"]),
    ]
