"""Things an admin names per tenant (sites, teams): one way to clean and create them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.errors import ConflictError, ValidationFailedError
from gateway.identity.rules import name_key
from gateway.store import audit
from gateway.store.engine import write_transaction
from gateway.store.queries import is_unique_violation
from gateway.store.tables import utcnow


def clean_name(name: str, *, what: str, max_length: int) -> str:
    """The name as stored: trimmed, 1 to ``max_length`` characters."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > max_length:
        raise ValidationFailedError(
            f"{what} name must be 1 to {max_length} characters (not blank).",
            details=[{"field": "name", "message": "length out of range"}],
        )
    return cleaned


def create_named(
    engine: Engine, target: Table, tenant_id: str, name: str, *, actor: str, subject_type: str
) -> tuple[int, datetime]:
    """Insert a row named ``name`` (already cleaned) and audit it; a name used in the
    tenant, in any case, raises :class:`ConflictError`. Returns (id, created_at)."""
    key = name_key(name)
    now = utcnow()
    try:
        with write_transaction(engine) as conn:
            taken = conn.execute(
                select(target.c.id).where(target.c.tenant_id == tenant_id, target.c.name_key == key)
            ).first()
            if taken is not None:
                raise name_taken(subject_type, name)
            row_id: int = conn.execute(
                insert(target)
                .values(tenant_id=tenant_id, name=name, name_key=key, created_at=now)
                .returning(target.c.id)
            ).scalar_one()
            audit.record(
                conn,
                tenant_id=tenant_id,
                actor=actor,
                action=f"{subject_type}.created",
                subject_type=subject_type,
                subject_id=str(row_id),
                after={"name": name},
            )
    except IntegrityError as exc:
        # Two concurrent creates on PostgreSQL: the unique index decides.
        if is_unique_violation(exc):
            raise name_taken(subject_type, name) from None
        raise
    return row_id, now


def name_taken(subject_type: str, name: str) -> ConflictError:
    return ConflictError(
        f"A {subject_type} named {name!r} already exists in this tenant (names ignore case).",
        details={"field": "name"},
    )
