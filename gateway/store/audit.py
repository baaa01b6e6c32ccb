"""The audit log: who or what changed what, with before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, insert, select

from gateway.store.engine import read_transaction
from gateway.store.queries import table
from gateway.store.tables import utcnow

_audit = table("audit_log")
# Built once (its compiled form is cached with it): every audited write runs it.
_INSERT = insert(_audit)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    tenant_id: str | None
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    run_id: int | None
    before: Any
    after: Any


def record(
    conn: Connection,
    *,
    tenant_id: str | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | None,
    before: Any = None,
    after: Any = None,
    run_id: int | None = None,
) -> None:
    """Append one audit entry in the caller's transaction.

    ``before``/``after`` must be JSON-serialisable and must never hold a secret.
    """
    conn.execute(
        _INSERT,
        {
            "tenant_id": tenant_id,
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "run_id": run_id,
            "before": before,
            "after": after,
        },
    )


def list_entries(engine: Engine, tenant_id: str | None, *, limit: int = 100) -> list[AuditRecord]:
    """The newest entries of one tenant (``None``: entries about no tenant)."""
    condition = (
        _audit.c.tenant_id.is_(None) if tenant_id is None else _audit.c.tenant_id == tenant_id
    )
    stmt = select(_audit).where(condition).order_by(_audit.c.id.desc()).limit(limit)
    with read_transaction(engine) as conn:
        return [_record(row._mapping) for row in conn.execute(stmt)]


def _record(row: RowMapping) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        run_id=row["run_id"],
        before=row["before"],
        after=row["after"],
    )
