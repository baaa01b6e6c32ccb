"""Bearer tokens of kind ``scim``: the token selects the tenant (RFC 6750).

Tokens are stored as hashes and looked up by hash (:mod:`gateway.store.tokens`),
which compares in constant time; a missing, unknown or revoked token gets the
same 401, which names no token.
"""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.store.tokens import authenticate
from scim.errors import ScimError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}


def tenant_for(engine: Engine, authorization: str | None) -> str:
    """The tenant the request's SCIM token belongs to; raises a 401 ``ScimError``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ScimError(401, None, "A bearer token is required (Authorization: Bearer <token>).")
    record = authenticate(engine, token.strip(), "scim")
    if record is None or record.tenant_id is None:
        raise ScimError(401, None, "The bearer token is not a valid SCIM token.")
    return record.tenant_id
