"""Reading sync run reports (the sync engine writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, select

from gateway.store.engine import read_transaction
from gateway.store.queries import Page, table

_runs = table("sync_runs")


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    source: str
    kind: str
    status: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    warnings: list[Any]
    error: str | None


def list_runs(
    engine: Engine, tenant_id: str, *, before_id: int | None = None, limit: int = 100
) -> Page[RunRecord]:
    """One page of the tenant's runs, newest first, older than ``before_id``."""
    if limit < 1:
        raise ValueError("limit must be positive")
    conditions = [_runs.c.tenant_id == tenant_id]
    if before_id is not None:
        conditions.append(_runs.c.id < before_id)
    stmt = select(_runs).where(*conditions).order_by(_runs.c.id.desc()).limit(limit + 1)
    with read_transaction(engine) as conn:
        rows = [_record(row._mapping) for row in conn.execute(stmt)]
    more = len(rows) > limit
    items = tuple(rows[:limit])
    return Page(items=items, next_after=items[-1].id if more else None)


def get_run(engine: Engine, tenant_id: str, run_id: int) -> RunRecord | None:
    """One run of the tenant, or ``None``."""
    stmt = select(_runs).where(_runs.c.tenant_id == tenant_id, _runs.c.id == run_id)
    with read_transaction(engine) as conn:
        row = conn.execute(stmt).first()
    return None if row is None else _record(row._mapping)


def _record(row: RowMapping) -> RunRecord:
    return RunRecord(
        id=row["id"],
        source=row["source"],
        kind=row["kind"],
        status=row["status"],
        dry_run=bool(row["dry_run"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counts=dict(row["counts"] or {}),
        warnings=list(row["warnings"] or []),
        error=row["error"],
    )
