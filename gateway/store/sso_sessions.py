"""Signed-in browsers: sessions with an idle and an absolute lifetime.

The browser holds a random token; the store keeps its SHA-256 hash, so a
database reader cannot take over a session. Signing in again rotates the
token (the previous session of that browser is revoked in the same
transaction as the new one is created).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from gateway.store.engine import write_transaction
from gateway.store.queries import table
from gateway.store.sso_signin import digest, record_outcome
from gateway.store.tables import utcnow

_sessions = table("sso_sessions")
_users = table("users")

# last_seen_at is written at most this often per session: an idle timeout of
# minutes does not need a write on every request.
TOUCH_INTERVAL = timedelta(seconds=60)

# Built once: every sign-in runs them.
_DELETE_EXPIRED = delete(_sessions).where(_sessions.c.absolute_expires_at < bindparam("now"))
_INSERT = insert(_sessions)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True, slots=True)
class SessionView:
    tenant_id: str
    user_id: int
    primary_email: str
    display_name: str | None
    created_at: datetime
    absolute_expires_at: datetime
    idle_expires_at: datetime


def start_session(
    conn: Connection,
    *,
    token: str,
    tenant_id: str,
    user_id: int,
    lifetimes: Lifetimes,
    replaces: str | None,
    now: datetime | None = None,
) -> None:
    """Create a session for ``token`` in the caller's transaction; revoke ``replaces``.

    Sessions past their absolute lifetime are deleted here, so the table holds
    only sessions that could still be live (or were ended early).
    """
    now = now or utcnow()
    conn.execute(_DELETE_EXPIRED, {"now": now})
    if replaces is not None:
        conn.execute(
            update(_sessions)
            .where(_sessions.c.token_hash == digest(replaces), _sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    conn.execute(
        _INSERT,
        {
            "token_hash": digest(token),
            "tenant_id": tenant_id,
            "user_id": user_id,
            "created_at": now,
            "last_seen_at": now,
            "absolute_expires_at": now + lifetimes.absolute,
        },
    )


def current_session(
    engine: Engine, token: str, lifetimes: Lifetimes, *, now: datetime | None = None
) -> SessionView | None:
    """The live session of ``token`` (and mark it seen), or ``None``.

    A session ends when revoked, past its absolute lifetime, idle for longer
    than the idle lifetime, or when its user was deactivated.
    """
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(
                _sessions.c.token_hash,
                _sessions.c.tenant_id,
                _sessions.c.user_id,
                _sessions.c.created_at,
                _sessions.c.last_seen_at,
                _sessions.c.absolute_expires_at,
                _users.c.primary_email,
                _users.c.display_name,
            )
            .join(_users, _users.c.id == _sessions.c.user_id)
            .where(
                _sessions.c.token_hash == digest(token),
                _sessions.c.revoked_at.is_(None),
                _users.c.active.is_(True),
            )
        ).first()
        if row is None:
            return None
        if now >= row.absolute_expires_at or now >= row.last_seen_at + lifetimes.idle:
            conn.execute(
                update(_sessions)
                .where(_sessions.c.token_hash == row.token_hash)
                .values(revoked_at=now)
            )
            return None
        last_seen = row.last_seen_at
        if now - last_seen >= TOUCH_INTERVAL:
            conn.execute(
                update(_sessions)
                .where(_sessions.c.token_hash == row.token_hash)
                .values(last_seen_at=now)
            )
            last_seen = now
    return SessionView(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        primary_email=row.primary_email,
        display_name=row.display_name,
        created_at=row.created_at,
        absolute_expires_at=row.absolute_expires_at,
        idle_expires_at=min(last_seen + lifetimes.idle, row.absolute_expires_at),
    )


def end_session(engine: Engine, token: str, *, now: datetime | None = None) -> bool:
    """Revoke the session of ``token`` and audit the sign-out; whether one was live."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = conn.execute(
            update(_sessions)
            .where(_sessions.c.token_hash == digest(token), _sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(_sessions.c.tenant_id, _sessions.c.user_id)
        ).first()
        if row is None:
            return False
        outcome: dict[str, Any] = {"code": "signed_out"}
        record_outcome(
            conn,
            tenant_id=row.tenant_id,
            action="sso.signed_out",
            user_id=row.user_id,
            outcome=outcome,
        )
    return True
