"""Per-tenant leases: which process does one kind of work for a tenant now.

A lease is a row that expires unless its holder renews it, so the work of a
crashed process is taken over by another once the lease runs out. The Graph
sync (one run per tenant at a time) and the SCIM identity applier (one drain
per tenant at a time, so applies keep their order) use the same mechanism.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, delete, or_, select, update

from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import insert_if_absent, table
from gateway.store.tables import utcnow

_leases = table("leases")


class LeaseKind(StrEnum):
    GRAPH_SYNC = "graph_sync"
    SCIM_IDENTITY = "scim_identity"


def acquire(engine: Engine, kind: LeaseKind, tenant_id: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease for ``seconds``; ``False`` while another holder's is live.

    The insert and the conditional update each decide atomically, so two
    processes cannot both win: on PostgreSQL the loser of the insert waits for
    the winner's commit and then finds a live lease; SQLite has one writer.
    """
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    key = (_leases.c.kind == str(kind), _leases.c.tenant_id == tenant_id)
    with write_transaction(engine) as conn:
        row = {"kind": str(kind), "tenant_id": tenant_id, "holder": holder, "expires_at": expires}
        if insert_if_absent(conn, _leases, row):
            return True
        result = conn.execute(
            update(_leases)
            .where(*key, or_(_leases.c.holder == holder, _leases.c.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
    return bool(result.rowcount)


def release(engine: Engine, kind: LeaseKind, tenant_id: str, holder: str) -> None:
    """Give the lease up at once, if ``holder`` still has it."""
    with write_transaction(engine) as conn:
        conn.execute(
            delete(_leases).where(
                _leases.c.kind == str(kind),
                _leases.c.tenant_id == tenant_id,
                _leases.c.holder == holder,
            )
        )


def current(engine: Engine, kind: LeaseKind, tenant_id: str) -> tuple[str | None, datetime | None]:
    """The holder of the lease and when it expires (``(None, None)``: nobody's)."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(_leases.c.holder, _leases.c.expires_at).where(
                _leases.c.kind == str(kind), _leases.c.tenant_id == tenant_id
            )
        ).first()
    return (None, None) if row is None else (row.holder, row.expires_at)
