"""Storage of the SSO sign-in: pending sign-ins (state, nonce, PKCE), the rule-12
inputs, and the audit entries of every sign-in and refusal.

``state`` and the browser binding are stored as SHA-256 hashes; a pending
sign-in is taken with one ``DELETE ... RETURNING``, so it is used at most once
even when two callbacks race.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, exists, insert, or_, select

from gateway.crypto import Secret, SecretBox, client_secret_aad
from gateway.identity.emails import email_key
from gateway.identity.signin import IntegrationState, KnownUser
from gateway.store import audit
from gateway.store.access import UserAccess, effective_access
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.integrations import IntegrationRecord, find_integration_sealed
from gateway.store.queries import table
from gateway.store.tables import utcnow

_pending = table("sso_pending_sign_ins")
_users = table("users")
_user_sources = table("user_sources")

PENDING_LIFETIME = timedelta(minutes=10)
# Built once: the callback runs it on every sign-in.
_TAKE_PENDING = (
    delete(_pending).where(_pending.c.state_hash == bindparam("state_hash")).returning(_pending)
)
VALIDATED = "validated"
AUDIT_ACTOR = "sso"


def digest(value: str) -> str:
    """The stored form of a bearer value (state, browser binding, session token)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    tenant_id: str
    browser_hash: str
    nonce: str
    code_verifier: str
    return_to: str | None
    test_id: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What the callback needs of the integration to redeem a code."""

    integration: IntegrationRecord
    client_secret: Secret


def save_pending(
    engine: Engine,
    *,
    state: str,
    tenant_id: str,
    browser_binding: str,
    nonce: str,
    code_verifier: str,
    return_to: str | None,
    test_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Remember a sign-in sent to Entra; also drops every expired one."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        conn.execute(delete(_pending).where(_pending.c.expires_at < now))
        conn.execute(
            insert(_pending).values(
                state_hash=digest(state),
                tenant_id=tenant_id,
                browser_hash=digest(browser_binding),
                nonce=nonce,
                code_verifier=code_verifier,
                return_to=return_to,
                test_id=test_id,
                created_at=now,
                expires_at=now + PENDING_LIFETIME,
            )
        )


@dataclass(frozen=True, slots=True)
class TakenSignIn:
    """A pending sign-in just removed, with its integration and the client secret
    as stored (decrypted by :func:`client_config` after the transaction)."""

    pending: PendingSignIn | None
    integration: IntegrationRecord | None = None
    sealed_secret: tuple[bytes, str] | None = None


def take_pending_in(conn: Connection, state: str) -> TakenSignIn:
    """Remove the pending sign-in of ``state`` in the caller's write transaction
    and read its integration (two statements)."""
    row = conn.execute(_TAKE_PENDING, {"state_hash": digest(state)}).first()
    if row is None:
        return TakenSignIn(None)
    pending = PendingSignIn(
        tenant_id=row.tenant_id,
        browser_hash=row.browser_hash,
        nonce=row.nonce,
        code_verifier=row.code_verifier,
        return_to=row.return_to,
        test_id=row.test_id,
        expires_at=row.expires_at,
    )
    found = find_integration_sealed(conn, pending.tenant_id)
    if found is None:
        return TakenSignIn(pending)
    record, ciphertext, key_id = found
    return TakenSignIn(pending, record, (ciphertext, key_id))


def client_config(box: SecretBox, taken: TakenSignIn) -> ClientConfig | None:
    """The integration with its decrypted client secret (raises ``CryptoError``
    when no configured key opens it)."""
    if taken.pending is None or taken.integration is None or taken.sealed_secret is None:
        return None
    ciphertext, key_id = taken.sealed_secret
    secret = box.decrypt_secret(ciphertext, key_id, aad=client_secret_aad(taken.pending.tenant_id))
    return ClientConfig(taken.integration, secret)


def take_pending(
    engine: Engine, box: SecretBox, state: str
) -> tuple[PendingSignIn | None, ClientConfig | None]:
    """Remove and return the pending sign-in of ``state`` with its client config.

    Expired and foreign-browser checks are the caller's (it knows the cookie and
    the clock); either way the row is gone, so a state never works twice (the
    secret is decrypted after the removal has committed).
    """
    with write_transaction(engine) as conn:
        taken = take_pending_in(conn, state)
    return taken.pending, client_config(box, taken)


def integration_state(
    record: IntegrationRecord | None, tenant_guid: str | None = None
) -> IntegrationState | None:
    """Rule 12's view of the integration; ``tenant_guid`` is the Entra tenant as
    its issuer names it (the admin may have configured a domain name)."""
    if record is None:
        return None
    return IntegrationState(
        enabled=record.enabled,
        validated=record.status == VALIDATED,
        entra_tenant_id=tenant_guid or record.entra_tenant_id,
    )


def candidates(
    conn: Connection, tenant_id: str, username: str | None, object_id: str | None
) -> tuple[KnownUser | None, KnownUser | None]:
    """The tenant's user whose Primary Email is ``username`` and the one with
    Entra object id ``object_id`` (rule 12's two look-ups, one indexed query)."""
    key = email_key(username) if username and username.strip() else None
    conditions = []
    if key is not None:
        conditions.append(_users.c.email_key == key)
    if object_id:
        conditions.append(_users.c.entra_object_id == object_id)
    if not conditions:
        return None, None
    synced = (
        exists()
        .where(_user_sources.c.user_id == _users.c.id, _user_sources.c.tenant_id == tenant_id)
        .label("synced")
    )
    rows = conn.execute(
        select(
            _users.c.id,
            _users.c.email_key,
            _users.c.primary_email,
            _users.c.active,
            _users.c.entra_object_id,
            synced,
        ).where(_users.c.tenant_id == tenant_id, or_(*conditions))
    ).all()
    by_username = by_object_id = None
    for row in rows:
        known = KnownUser(
            id=row.id,
            primary_email=row.primary_email,
            active=bool(row.active),
            synced=bool(row.synced),
            entra_object_id=row.entra_object_id,
        )
        if key is not None and row.email_key == key:
            by_username = known
        if object_id and row.entra_object_id == object_id:
            by_object_id = known
    return by_username, by_object_id


def read_candidates(
    engine: Engine, tenant_id: str, username: str | None, object_id: str | None
) -> tuple[KnownUser | None, KnownUser | None]:
    with read_transaction(engine) as conn:
        return candidates(conn, tenant_id, username, object_id)


def record_outcome(
    conn: Connection,
    *,
    tenant_id: str | None,
    action: str,
    user_id: int | None,
    outcome: dict[str, Any],
) -> None:
    """One audit entry for a sign-in, a refusal or an Entra error (no secrets, no tokens)."""
    audit.record(
        conn,
        tenant_id=tenant_id,
        actor=AUDIT_ACTOR,
        action=action,
        subject_type="user" if user_id is not None else "sign_in",
        subject_id=None if user_id is None else str(user_id),
        after=outcome,
    )


def audit_outcome(
    engine: Engine,
    *,
    tenant_id: str | None,
    action: str,
    user_id: int | None,
    outcome: dict[str, Any],
) -> None:
    with write_transaction(engine) as conn:
        record_outcome(conn, tenant_id=tenant_id, action=action, user_id=user_id, outcome=outcome)


@dataclass(frozen=True, slots=True)
class BridgeSubject:
    """Who the bridge's ID token speaks for, with their derived access."""

    user_id: int
    tenant_id: str
    primary_email: str
    display_name: str | None
    entra_object_id: str | None
    access: UserAccess


def bridge_subject(engine: Engine, tenant_id: str, user_id: int) -> BridgeSubject | None:
    """The active user with access as :func:`effective_access` derives it, or ``None``."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(
                _users.c.primary_email,
                _users.c.display_name,
                _users.c.entra_object_id,
                _users.c.active,
            ).where(_users.c.tenant_id == tenant_id, _users.c.id == user_id)
        ).first()
        if row is None or not row.active:
            return None
        access = effective_access(conn, tenant_id, [user_id])[user_id]
    return BridgeSubject(
        user_id=user_id,
        tenant_id=tenant_id,
        primary_email=row.primary_email,
        display_name=row.display_name,
        entra_object_id=row.entra_object_id,
        access=access,
    )
