"""Admin and SCIM bearer tokens: random, shown once, stored only as a SHA-256 hash (rule 11).

An admin token with no tenant is an operator token and reaches every tenant; a
SCIM token always belongs to one tenant, which it selects.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, RowMapping, insert, or_, select, update

from gateway.errors import NotFoundError, ValidationFailedError
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.tables import utcnow
from gateway.store.tenants import find_tenant

_tokens = table("api_tokens")

TokenKind = Literal["admin", "scim"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("admin", "scim")
TOKEN_PREFIXES: dict[TokenKind, str] = {"admin": "tgw_admin_", "scim": "tgw_scim_"}
# Bounds the writes authentication causes: one per token per minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is known about a token; never its value or its hash."""

    id: str
    tenant_id: str | None
    kind: TokenKind
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_operator(self) -> bool:
        """An admin token bound to no tenant reaches every tenant."""
        return self.kind == "admin" and self.tenant_id is None


def hash_token(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(
    engine: Engine, *, tenant_id: str | None, kind: TokenKind, actor: str
) -> tuple[TokenRecord, str]:
    """Make a token; returns its record and its value, which is not kept anywhere.

    ``tenant_id=None`` with ``kind="admin"`` makes an operator token; SCIM
    tokens need a tenant. An unknown tenant raises :class:`NotFoundError`.
    """
    if kind not in TOKEN_KINDS:
        raise ValidationFailedError(f"Token kind must be one of {', '.join(TOKEN_KINDS)}.")
    if kind == "scim" and tenant_id is None:
        raise ValidationFailedError("A SCIM token needs a tenant: the token selects the tenant.")
    plaintext = TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)
    record = TokenRecord(
        id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        kind=kind,
        hint=plaintext[-4:],
        created_at=utcnow(),
        last_used_at=None,
        revoked_at=None,
    )
    with write_transaction(engine) as conn:
        if tenant_id is not None and find_tenant(conn, tenant_id) is None:
            raise NotFoundError(f"Tenant {tenant_id} not found.")
        conn.execute(
            insert(_tokens).values(
                id=record.id,
                tenant_id=tenant_id,
                kind=kind,
                token_hash=hash_token(plaintext),
                hint=record.hint,
                created_at=record.created_at,
            )
        )
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="token.created",
            subject_type="token",
            subject_id=record.id,
            after={"kind": kind, "hint": record.hint},
        )
    return record, plaintext


def authenticate(engine: Engine, plaintext: str, kind: TokenKind) -> TokenRecord | None:
    """The live token of this kind with this value, or ``None``.

    Refreshes ``last_used_at`` when it is older than a minute, so a busy
    client does not turn every request into a write.
    """
    if not plaintext or len(plaintext) > _MAX_TOKEN_LENGTH:
        return None
    wanted = hash_token(plaintext)
    with read_transaction(engine) as conn:
        row = conn.execute(select(_tokens).where(_tokens.c.token_hash == wanted)).first()
    if row is None:
        return None
    mapping = row._mapping
    # The lookup is by hash already; the constant-time compare keeps the final
    # decision from depending on how many leading characters matched.
    if not hmac.compare_digest(mapping["token_hash"], wanted):
        return None
    if mapping["kind"] != kind or mapping["revoked_at"] is not None:
        return None
    record = _record(mapping)
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        _touch(engine, record.id, now)
        record = replace(record, last_used_at=now)
    return record


def _touch(engine: Engine, token_id: str, now: datetime) -> None:
    stale = now - LAST_USED_RESOLUTION
    with write_transaction(engine) as conn:
        conn.execute(
            update(_tokens)
            .where(
                _tokens.c.id == token_id,
                or_(_tokens.c.last_used_at.is_(None), _tokens.c.last_used_at <= stale),
            )
            .values(last_used_at=now)
        )


def list_tokens(engine: Engine, tenant_id: str | None) -> list[TokenRecord]:
    """The tenant's tokens, newest first (``None``: the operator tokens)."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(_tokens)
            .where(_tenant_condition(tenant_id))
            .order_by(_tokens.c.created_at.desc(), _tokens.c.id)
        )
        return [_record(row._mapping) for row in rows]


def get_token(engine: Engine, tenant_id: str | None, token_id: str) -> TokenRecord | None:
    """One token of the tenant (``None``: an operator token), or ``None``."""
    with read_transaction(engine) as conn:
        return _find(conn, tenant_id, token_id)


# Counts revocations made by this process, so that caches of recently accepted
# tokens (the SCIM server's) drop them at once rather than when they expire.
# Other processes' revocations reach those caches when their entries expire.
_revocations = 0


def revocations() -> int:
    """How many tokens this process has revoked since it started."""
    return _revocations


def revoke_token(
    engine: Engine, tenant_id: str | None, token_id: str, *, actor: str
) -> TokenRecord:
    """Revoke a token of the tenant; revoking twice keeps the first time.

    Raises :class:`NotFoundError` when the tenant has no such token.
    """
    with write_transaction(engine) as conn:
        record = _find(conn, tenant_id, token_id)
        if record is None:
            raise NotFoundError(f"Token {token_id} not found.")
        if record.revoked_at is not None:
            return record
        now = utcnow()
        conn.execute(update(_tokens).where(_tokens.c.id == token_id).values(revoked_at=now))
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="token.revoked",
            subject_type="token",
            subject_id=token_id,
            before={"revoked": False},
            after={"revoked": True},
        )
    global _revocations
    _revocations += 1
    return replace(record, revoked_at=now)


def _find(conn: Connection, tenant_id: str | None, token_id: str) -> TokenRecord | None:
    row = conn.execute(
        select(_tokens).where(_tenant_condition(tenant_id), _tokens.c.id == token_id)
    ).first()
    return None if row is None else _record(row._mapping)


def _tenant_condition(tenant_id: str | None) -> Any:
    if tenant_id is None:
        return _tokens.c.tenant_id.is_(None)
    return _tokens.c.tenant_id == tenant_id


def _record(row: RowMapping) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        hint=row["hint"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
