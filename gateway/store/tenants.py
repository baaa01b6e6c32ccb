"""Customer tenants ("Timus tenants"): the unit every other row belongs to (rule 1)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, insert, select

from gateway.errors import ValidationFailedError
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.tables import utcnow

_tenants = table("tenants")

TENANT_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    name: str
    created_at: datetime


def clean_tenant_name(name: str) -> str:
    """The name as stored: trimmed, non-empty, at most 200 characters."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > TENANT_NAME_MAX:
        raise ValidationFailedError(
            f"Tenant name must be 1 to {TENANT_NAME_MAX} characters (not blank).",
            details=[{"field": "name", "message": "length out of range"}],
        )
    return cleaned


def create_tenant(engine: Engine, name: str, *, actor: str) -> TenantRecord:
    """Create a tenant with a new random id and audit it."""
    record = TenantRecord(id=uuid.uuid4().hex, name=clean_tenant_name(name), created_at=utcnow())
    with write_transaction(engine) as conn:
        conn.execute(
            insert(_tenants).values(id=record.id, name=record.name, created_at=record.created_at)
        )
        audit.record(
            conn,
            tenant_id=record.id,
            actor=actor,
            action="tenant.created",
            subject_type="tenant",
            subject_id=record.id,
            after={"name": record.name},
        )
    return record


def get_tenant(engine: Engine, tenant_id: str) -> TenantRecord | None:
    """The tenant, or ``None`` when there is none with this id."""
    with read_transaction(engine) as conn:
        return find_tenant(conn, tenant_id)


def find_tenant(conn: Connection, tenant_id: str) -> TenantRecord | None:
    """Like :func:`get_tenant`, inside the caller's transaction."""
    row = conn.execute(select(_tenants).where(_tenants.c.id == tenant_id)).first()
    return None if row is None else _record(row._mapping)


def list_tenants(engine: Engine) -> list[TenantRecord]:
    """Every tenant, oldest first (for operators)."""
    stmt = select(_tenants).order_by(_tenants.c.created_at, _tenants.c.id)
    with read_transaction(engine) as conn:
        return [_record(row._mapping) for row in conn.execute(stmt)]


def _record(row: RowMapping) -> TenantRecord:
    return TenantRecord(id=row["id"], name=row["name"], created_at=row["created_at"])
