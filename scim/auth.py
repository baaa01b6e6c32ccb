"""Bearer tokens of kind ``scim``: the token selects the tenant (RFC 6750).

Tokens are stored as hashes and looked up by hash (:mod:`gateway.store.tokens`),
which compares in constant time; a missing, unknown or revoked token gets the
same 401, which names no token. Entra sends a burst of requests with one
token, so a successful check is remembered for ``CACHE_SECONDS`` (keyed by the
token's hash, never its value). A token revoked through this process stops
working at once; one revoked by another process, within that time.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from gateway.store.tokens import authenticate, hash_token, revocations
from scim.errors import ScimError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}
CACHE_SECONDS = 1.0
_MAX_CACHED = 1000


class TokenCheck:
    """Resolves SCIM tokens to tenants, remembering recent successes briefly."""

    def __init__(self, engine: Engine, ttl: float = CACHE_SECONDS) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str, float]] = {}
        self._revocations = revocations()

    def remembered(self, authorization: str | None) -> bool:
        """Whether this token's tenant is known without asking the database."""
        _, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if not token:
            return False
        self._forget_if_revoked()
        with self._lock:
            known = self._known.get(hash_token(token))
        return known is not None and known[1] > time.monotonic()

    def tenant_for(self, authorization: str | None) -> str:
        """The tenant of the request's SCIM token; raises a 401 ``ScimError``."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ScimError(
                401, None, "A bearer token is required (Authorization: Bearer <token>)."
            )
        key = hash_token(token)
        now = time.monotonic()
        self._forget_if_revoked()
        with self._lock:
            known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        record = authenticate(self._engine, token, "scim")
        if record is None or record.tenant_id is None:
            with self._lock:
                self._known.pop(key, None)
            raise ScimError(401, None, "The bearer token is not a valid SCIM token.")
        with self._lock:
            if len(self._known) >= _MAX_CACHED:
                self._known.clear()
            self._known[key] = (record.tenant_id, now + self._ttl)
        return record.tenant_id

    def _forget_if_revoked(self) -> None:
        """Drop every remembered token once this process has revoked one."""
        current = revocations()
        if current != self._revocations:
            with self._lock:
                self._known.clear()
                self._revocations = current
