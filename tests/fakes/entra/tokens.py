"""Access tokens the fake issues and Graph checks: RS256 JWTs shaped like Entra's app-only tokens.

Claims follow Entra's v1 access tokens for Microsoft Graph: ``aud`` (the resource of
the requested ``/.default`` scope), ``iss``, ``tid``, ``appid``, ``oid`` (the app's
service principal), ``roles`` (omitted when no role is granted, as Entra does),
``iat``/``nbf``/``exp``.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.fakes.entra.errors import GraphError, invalid_token


@functools.cache
def signing_key() -> RSAKey:
    """One key per process: generating RSA keys per test would only cost time."""
    return RSAKey.generate_key(2048, auto_kid=True)


def jwks() -> dict[str, Any]:
    public = signing_key().as_dict(private=False)
    return {"keys": [{**public, "use": "sig", "alg": "RS256"}]}


def issue_access_token(
    *,
    tenant_id: str,
    client_id: str,
    service_principal_id: str,
    audience: str,
    roles: list[str],
    now: datetime,
    lifetime_seconds: int,
) -> str:
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime_seconds,
        "appid": client_id,
        "appidacr": "1",
        "idp": f"https://sts.windows.net/{tenant_id}/",
        "oid": service_principal_id,
        "sub": service_principal_id,
        "tid": tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }
    if roles:
        claims["roles"] = roles
    key = signing_key()
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key)


@dataclass(frozen=True)
class Caller:
    """Who is calling Graph, as the access token says."""

    tenant_id: str
    client_id: str
    roles: frozenset[str]


def verify_access_token(authorization: str | None, audience: str, now: datetime) -> Caller:
    """Check the bearer token as Graph does; raise the 401 Graph gives otherwise."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise invalid_token("Access token is empty.")
    token = authorization[7:].strip()
    if not token:
        raise invalid_token("Access token is empty.")
    try:
        claims = jwt.decode(token, signing_key()).claims
    except (JoseError, ValueError):
        raise invalid_token(
            "IDX14100: JWT is not well formed or its signature is invalid."
        ) from None
    if claims.get("aud") != audience:
        raise invalid_token("Access token validation failure. Invalid audience.")
    if int(claims.get("exp", 0)) <= now.timestamp():
        raise invalid_token("Lifetime validation failed, the token is expired.")
    return Caller(
        tenant_id=str(claims.get("tid")),
        client_id=str(claims.get("appid")),
        roles=frozenset(claims.get("roles") or ()),
    )


def require_any_role(caller: Caller, *roles: str) -> None:
    if not caller.roles.intersection(roles):
        raise GraphError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
