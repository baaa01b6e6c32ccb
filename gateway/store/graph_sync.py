"""Store side of the Graph pull sync: runs and their reports, delta state, leases,
integration status, and the membership reads a delta run needs.

Delta links are written only by :func:`save_delta_state`, which the sync
engine calls after the apply covering them committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import chunks, insert_ignoring_duplicates, table
from gateway.store.tables import utcnow

_runs = table("sync_runs")
_reports = table("sync_run_reports")
_states = table("graph_sync_states")
_direct = table("graph_direct_members")
_integrations = table("integrations")
_groups_selected = table("integration_groups")
_user_sources = table("user_sources")
_groups = table("groups")
_memberships = table("group_memberships")

SOURCE = "graph"
VALIDATED = "validated"
INVALID = "invalid"


# -- runs ----------------------------------------------------------------------


def start_run(engine: Engine, tenant_id: str, *, kind: str, dry_run: bool) -> int:
    """Record a run as ``running``; its id tags the audit entries it writes."""
    with write_transaction(engine) as conn:
        run_id: int = conn.execute(
            insert(_runs)
            .values(
                tenant_id=tenant_id,
                source=SOURCE,
                kind=kind,
                status="running",
                dry_run=dry_run,
                started_at=utcnow(),
                counts={},
                warnings=[],
            )
            .returning(_runs.c.id)
        ).scalar_one()
    return run_id


def finish_run(
    engine: Engine,
    tenant_id: str,
    run_id: int,
    *,
    kind: str,
    status: str,
    counts: dict[str, int],
    warnings: list[dict[str, Any]],
    error: str | None,
    report: dict[str, Any],
) -> None:
    """Store a run's outcome and report in one transaction."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(_runs)
            .where(_runs.c.id == run_id, _runs.c.tenant_id == tenant_id)
            .values(
                kind=kind,
                status=status,
                finished_at=utcnow(),
                counts=counts,
                warnings=warnings,
                error=None if error is None else error[:2000],
            )
        )
        conn.execute(delete(_reports).where(_reports.c.run_id == run_id))
        conn.execute(insert(_reports).values(run_id=run_id, tenant_id=tenant_id, report=report))


def run_report(engine: Engine, tenant_id: str, run_id: int) -> dict[str, Any] | None:
    with read_transaction(engine) as conn:
        value = conn.execute(
            select(_reports.c.report).where(
                _reports.c.run_id == run_id, _reports.c.tenant_id == tenant_id
            )
        ).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else None


def run_reports(
    engine: Engine, tenant_id: str, run_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    if not run_ids:
        return {}
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(_reports.c.run_id, _reports.c.report).where(
                _reports.c.tenant_id == tenant_id, _reports.c.run_id.in_(list(run_ids))
            )
        ).all()
    return {int(r.run_id): dict(r.report) for r in rows if isinstance(r.report, dict)}


def awaiting_confirmation(engine: Engine, tenant_id: str) -> int | None:
    """The newest real run, when it stopped at the deactivation threshold."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(_runs.c.id, _runs.c.status)
            .where(
                _runs.c.tenant_id == tenant_id,
                _runs.c.source == SOURCE,
                ~_runs.c.dry_run,
                _runs.c.status != "running",
            )
            .order_by(_runs.c.id.desc())
            .limit(1)
        ).first()
    if row is None or row.status != "needs_confirmation":
        return None
    return int(row.id)


def last_finished_at(engine: Engine, tenant_id: str) -> datetime | None:
    """When the last real (not dry) run of the tenant ended."""
    with read_transaction(engine) as conn:
        value: datetime | None = conn.execute(
            select(_runs.c.finished_at)
            .where(_runs.c.tenant_id == tenant_id, _runs.c.source == SOURCE, ~_runs.c.dry_run)
            .order_by(_runs.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    return value


def abandon_stale_runs(engine: Engine, tenant_id: str) -> int:
    """Mark ``running`` runs of the tenant as ``abandoned`` (their process died).

    Called by whoever just took the tenant's lease, so no live run is touched.
    """
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(_runs)
            .where(_runs.c.tenant_id == tenant_id, _runs.c.status == "running")
            .values(
                status="abandoned",
                finished_at=utcnow(),
                error="The process running this sync stopped; another process took over.",
            )
        )
    return int(result.rowcount or 0)


# -- integration status ----------------------------------------------------------


def set_status(engine: Engine, tenant_id: str, status: str, detail: str | None) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(_integrations)
            .where(_integrations.c.tenant_id == tenant_id)
            .values(status=status, status_detail=detail, updated_at=utcnow())
        )


def secret_expiry_dates(engine: Engine) -> list[tuple[str, datetime]]:
    """(tenant id, expiry) of every integration whose secret has a known expiry date."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(_integrations.c.tenant_id, _integrations.c.secret_expires_at).where(
                _integrations.c.secret_expires_at.is_not(None)
            )
        ).all()
    return [(r.tenant_id, r.secret_expires_at) for r in rows]


@dataclass(frozen=True, slots=True)
class ScheduledIntegration:
    tenant_id: str
    interval_minutes: int


def integrations_to_sync(engine: Engine) -> list[ScheduledIntegration]:
    """Enabled, validated integrations with sync on."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(_integrations.c.tenant_id, _integrations.c.sync_interval_minutes).where(
                _integrations.c.enabled,
                _integrations.c.sync_enabled,
                _integrations.c.status == VALIDATED,
            )
        ).all()
    return [ScheduledIntegration(r.tenant_id, int(r.sync_interval_minutes)) for r in rows]


def sync_allowed(engine: Engine, tenant_id: str, *, scheduled: bool = True) -> bool:
    """Whether the integration is still enabled (and, for scheduled runs, sync on)."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(_integrations.c.enabled, _integrations.c.sync_enabled).where(
                _integrations.c.tenant_id == tenant_id
            )
        ).first()
    if row is None or not row.enabled:
        return False
    return bool(row.sync_enabled) or not scheduled


# -- delta state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeltaState:
    selection_key: str
    users_delta_link: str
    groups_delta_links: list[dict[str, Any]]
    group_edges: dict[str, list[str]]
    last_full_at: datetime


def selection_key(group_ids: Iterable[str]) -> str:
    """A stable key of the selected group set (a change forces a full sync)."""
    joined = "\n".join(sorted({g.lower() for g in group_ids}))
    return hashlib.sha256(joined.encode()).hexdigest()


def load_delta_state(engine: Engine, tenant_id: str) -> DeltaState | None:
    with read_transaction(engine) as conn:
        row = conn.execute(select(_states).where(_states.c.tenant_id == tenant_id)).first()
    if row is None:
        return None
    return DeltaState(
        selection_key=row.selection_key,
        users_delta_link=row.users_delta_link,
        groups_delta_links=list(row.groups_delta_links or []),
        group_edges={str(k): list(v) for k, v in dict(row.group_edges or {}).items()},
        last_full_at=row.last_full_at,
    )


def save_delta_state(
    engine: Engine,
    tenant_id: str,
    state: DeltaState,
    *,
    direct_members: dict[str, list[str]] | None = None,
    added: Iterable[tuple[str, str]] = (),
    removed: Iterable[tuple[str, str]] = (),
) -> None:
    """Store the links of changes already committed (never before), and in the same
    transaction the direct members they leave: all of them after a full read
    (``direct_members``), or the (group, user) pairs a delta round added and removed.
    """
    values = {
        "selection_key": state.selection_key,
        "users_delta_link": state.users_delta_link,
        "groups_delta_links": state.groups_delta_links,
        "group_edges": state.group_edges,
        "last_full_at": state.last_full_at,
        "updated_at": utcnow(),
    }
    with write_transaction(engine) as conn:
        updated = conn.execute(
            update(_states).where(_states.c.tenant_id == tenant_id).values(**values)
        )
        if not updated.rowcount:
            conn.execute(insert(_states).values(tenant_id=tenant_id, **values))
        if direct_members is not None:
            conn.execute(delete(_direct).where(_direct.c.tenant_id == tenant_id))
            _load_direct(
                conn,
                [
                    (tenant_id, g, u)
                    for g, users in direct_members.items()
                    for u in dict.fromkeys(users)
                ],
            )
        gone = [{"t": tenant_id, "g": g, "u": u} for g, u in sorted(set(removed))]
        if gone:
            # One primary-key lookup per pair: SQLite scans the whole table for
            # a row-value IN list.
            conn.execute(
                delete(_direct).where(
                    _direct.c.tenant_id == bindparam("t"),
                    _direct.c.group_id == bindparam("g"),
                    _direct.c.user_id == bindparam("u"),
                ),
                gone,
            )
        insert_ignoring_duplicates(
            conn,
            _direct,
            [{"tenant_id": tenant_id, "group_id": g, "user_id": u} for g, u in sorted(set(added))],
        )


def _load_direct(conn: Connection, rows: list[tuple[str, str, str]]) -> None:
    """Bulk-insert direct member rows through the driver (200k rows after a full read)."""
    columns = "tenant_id, group_id, user_id"
    if conn.dialect.name == "postgresql":
        driver: Any = conn.connection.driver_connection
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY graph_direct_members ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        for batch in chunks(rows, 50_000):
            conn.exec_driver_sql(
                f"INSERT INTO graph_direct_members ({columns}) VALUES (?, ?, ?)", list(batch)
            )
    # The planner must know the table is large now, or a delta run's lookups
    # by (group, user) turn into scans.
    conn.exec_driver_sql("ANALYZE graph_direct_members")


def direct_groups_of(
    engine: Engine, tenant_id: str, user_ids: Iterable[str]
) -> dict[str, set[str]]:
    """The groups (selected or nested) each user is a direct member of, as last read."""
    ids = sorted(set(user_ids))
    result: dict[str, set[str]] = {u: set() for u in ids}
    with read_transaction(engine) as conn:
        for chunk in chunks(ids):
            rows = conn.execute(
                select(_direct.c.user_id, _direct.c.group_id).where(
                    _direct.c.tenant_id == tenant_id, _direct.c.user_id.in_(list(chunk))
                )
            ).all()
            for row in rows:
                result[row.user_id].add(row.group_id)
    return result


def clear_delta_state(engine: Engine, tenant_id: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(delete(_states).where(_states.c.tenant_id == tenant_id))


# -- memberships a delta run reasons about ---------------------------------------


def linked_users(engine: Engine, tenant_id: str, external_ids: Iterable[str]) -> set[str]:
    """Which of these Graph user ids the store already links to a user."""
    ids = sorted(set(external_ids))
    found: set[str] = set()
    with read_transaction(engine) as conn:
        for chunk in chunks(ids):
            found.update(
                conn.execute(
                    select(_user_sources.c.external_id).where(
                        _user_sources.c.tenant_id == tenant_id,
                        _user_sources.c.source == SOURCE,
                        _user_sources.c.external_id.in_(list(chunk)),
                    )
                ).scalars()
            )
    return found


def groups_of_users(
    engine: Engine, tenant_id: str, external_ids: Iterable[str]
) -> dict[str, set[str]]:
    """The synced Graph groups each of these users is a member of in the store."""
    ids = sorted(set(external_ids))
    result: dict[str, set[str]] = {i: set() for i in ids}
    with read_transaction(engine) as conn:
        for chunk in chunks(ids):
            rows = conn.execute(
                select(_user_sources.c.external_id, _groups.c.external_id.label("group_id"))
                .select_from(
                    _user_sources.join(
                        _memberships, _memberships.c.user_id == _user_sources.c.user_id
                    ).join(
                        _groups,
                        and_(_groups.c.id == _memberships.c.group_id, _groups.c.source == SOURCE),
                    )
                )
                .where(
                    _user_sources.c.tenant_id == tenant_id,
                    _user_sources.c.source == SOURCE,
                    _user_sources.c.external_id.in_(list(chunk)),
                )
            ).all()
            for row in rows:
                result[row.external_id].add(row.group_id)
    return result


def group_members(engine: Engine, tenant_id: str, group_external_id: str) -> set[str]:
    """Graph user ids the store has as members of one synced group."""
    with read_transaction(engine) as conn:
        return set(
            conn.execute(
                select(_user_sources.c.external_id)
                .select_from(
                    _groups.join(_memberships, _memberships.c.group_id == _groups.c.id).join(
                        _user_sources,
                        and_(
                            _user_sources.c.user_id == _memberships.c.user_id,
                            _user_sources.c.source == SOURCE,
                        ),
                    )
                )
                .where(
                    _groups.c.tenant_id == tenant_id,
                    _groups.c.source == SOURCE,
                    _groups.c.external_id == group_external_id,
                )
            ).scalars()
        )


def selected_groups(engine: Engine, tenant_id: str) -> list[str]:
    with read_transaction(engine) as conn:
        return list(
            conn.execute(
                select(_groups_selected.c.entra_group_id)
                .where(_groups_selected.c.tenant_id == tenant_id)
                .order_by(_groups_selected.c.entra_group_id)
            ).scalars()
        )
