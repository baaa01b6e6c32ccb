"""What SCIM pushes report to the admin: one ``sync_runs`` row per tenant and UTC day.

Entra pushes continuously, so there is no run to attach a report to; the day's
row (source ``scim``, kind ``push``) adds up the counts and keeps the distinct
warnings (users refused for want of a Primary Email, "SSO will fail", group
names too long for a tag), newest last, so ``GET …/entra/sync-runs`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from gateway.identity.model import Source, SyncWarning
from gateway.identity.rules import user_warnings
from gateway.store.engine import write_transaction, write_transaction_now
from gateway.store.queries import table
from gateway.store.tables import utcnow

_runs = table("sync_runs")

PUSH_KIND = "push"
# A day's row keeps at most this many distinct warnings (the oldest go first).
MAX_WARNINGS = 500


def record_push(
    conn: Connection,
    tenant_id: str,
    counts: Mapping[str, int],
    warnings: Sequence[SyncWarning],
) -> None:
    """Add counts and warnings to the tenant's SCIM push report of today."""
    now = utcnow()
    day_start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    stmt = select(_runs.c.id, _runs.c.counts, _runs.c.warnings).where(
        _runs.c.tenant_id == tenant_id,
        _runs.c.source == str(Source.SCIM),
        _runs.c.kind == PUSH_KIND,
        _runs.c.started_at >= day_start,
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt.order_by(_runs.c.id.desc()).limit(1)).first()
    new_warnings = [warning.as_dict() for warning in warnings]
    if row is None:
        conn.execute(
            insert(_runs).values(
                tenant_id=tenant_id,
                source=str(Source.SCIM),
                kind=PUSH_KIND,
                status="applied",
                dry_run=False,
                started_at=now,
                finished_at=now,
                counts={k: v for k, v in counts.items() if v},
                warnings=_merge([], new_warnings),
            )
        )
        return
    run_id, old_counts, old_warnings = row
    merged_counts: dict[str, int] = dict(old_counts or {})
    for key, value in counts.items():
        if value:
            merged_counts[key] = merged_counts.get(key, 0) + value
    conn.execute(
        update(_runs)
        .where(_runs.c.id == run_id)
        .values(
            finished_at=now,
            counts=merged_counts,
            warnings=_merge(list(old_warnings or []), new_warnings),
        )
    )


def record_refusal(
    engine: Engine,
    tenant_id: str,
    user_name: str,
    external_id: str | None,
    *,
    wait: bool = True,
) -> None:
    """Count a pushed user refused for want of a Primary Email (rule 2) in today's
    report; with ``wait=False`` a held SQLite write lock raises ``WriteLockBusy``."""
    warnings = user_warnings(external_id or user_name, None, user_name)
    with (write_transaction if wait else write_transaction_now)(engine) as conn:
        record_push(conn, tenant_id, {"users_refused": 1}, warnings)


def _merge(old: list[Any], new: list[dict[str, Any]]) -> list[Any]:
    def key(warning: Any) -> tuple[str, str]:
        return (str(warning.get("code")), str(warning.get("subject")))

    fresh = {key(w) for w in new}
    kept = [w for w in old if isinstance(w, dict) and key(w) not in fresh]
    return [*kept, *new][-MAX_WARNINGS:]
