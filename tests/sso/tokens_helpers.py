"""Signing keys and ID tokens shaped like Entra's, for the validation unit tests."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from sso.tokens import Expectation

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
LOGIN = "https://login.microsoftonline.com"
ISSUER = f"{LOGIN}/{TENANT}/v2.0"
TEMPLATE_ISSUER = f"{LOGIN}/{{tenantid}}/v2.0"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_800_000_000.0


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


KEY = rsa_key("key-1")
KEYS = KeySet([KEY])


def public_jwks(*keys: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ver": "2.0",
        "iss": ISSUER,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "aud": CLIENT,
        "exp": int(NOW) + 3600,
        "iat": int(NOW) - 10,
        "nbf": int(NOW) - 10,
        "nonce": NONCE,
        "tid": TENANT,
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "preferred_username": "ann@contoso.com",
        "name": "Ann",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = KEY, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT", **header}, payload, key)


def hs256(payload: dict[str, Any]) -> str:
    secret = OctKey.import_key(CLIENT.encode() * 2)
    return jwt.encode({"alg": "HS256", "kid": KEY.kid}, payload, secret, algorithms=["HS256"])


def expectation(**overrides: Any) -> Expectation:
    values: dict[str, Any] = {
        "client_id": CLIENT,
        "tenant_id": TENANT,
        "issuer": ISSUER,
        "nonce": NONCE,
        "now": NOW,
        "clock_skew": 120,
    }
    values.update(overrides)
    return Expectation(**values)


def wall_clock() -> float:
    return time.time()
