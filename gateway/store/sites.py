"""Sites (Cloud Gateways) an admin can grant to synced users (rule 7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.errors import ConflictError, ValidationFailedError
from gateway.identity.rules import name_key
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import chunks, is_unique_violation, table
from gateway.store.tables import utcnow

_sites = table("sites")

SITE_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class SiteRecord:
    id: int
    name: str
    created_at: datetime


def clean_site_name(name: str) -> str:
    """The name as stored: trimmed, 1 to 100 characters."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > SITE_NAME_MAX:
        raise ValidationFailedError(
            f"Site name must be 1 to {SITE_NAME_MAX} characters (not blank).",
            details=[{"field": "name", "message": "length out of range"}],
        )
    return cleaned


def create_site(engine: Engine, tenant_id: str, name: str, *, actor: str) -> SiteRecord:
    """Create a site; a name already used in the tenant (any case) raises :class:`ConflictError`."""
    cleaned = clean_site_name(name)
    key = name_key(cleaned)
    now = utcnow()
    try:
        with write_transaction(engine) as conn:
            taken = conn.execute(
                select(_sites.c.id).where(_sites.c.tenant_id == tenant_id, _sites.c.name_key == key)
            ).first()
            if taken is not None:
                raise _name_taken(cleaned)
            site_id = conn.execute(
                insert(_sites)
                .values(tenant_id=tenant_id, name=cleaned, name_key=key, created_at=now)
                .returning(_sites.c.id)
            ).scalar_one()
            audit.record(
                conn,
                tenant_id=tenant_id,
                actor=actor,
                action="site.created",
                subject_type="site",
                subject_id=str(site_id),
                after={"name": cleaned},
            )
    except IntegrityError as exc:
        # Two concurrent creates on PostgreSQL: the unique index decides.
        if is_unique_violation(exc):
            raise _name_taken(cleaned) from None
        raise
    return SiteRecord(id=site_id, name=cleaned, created_at=now)


def list_sites(engine: Engine, tenant_id: str) -> list[SiteRecord]:
    """The tenant's sites by name."""
    stmt = select(_sites).where(_sites.c.tenant_id == tenant_id).order_by(_sites.c.name_key)
    with read_transaction(engine) as conn:
        return [_record(row._mapping) for row in conn.execute(stmt)]


def existing_site_ids(conn: Connection, tenant_id: str, site_ids: Sequence[int]) -> set[int]:
    """Which of ``site_ids`` are sites of the tenant."""
    found: set[int] = set()
    for part in chunks(sorted(set(site_ids))):
        found.update(
            conn.execute(
                select(_sites.c.id).where(_sites.c.tenant_id == tenant_id, _sites.c.id.in_(part))
            ).scalars()
        )
    return found


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"A site named {name!r} already exists in this tenant (names ignore case).",
        details={"field": "name"},
    )


def _record(row: RowMapping) -> SiteRecord:
    return SiteRecord(id=row["id"], name=row["name"], created_at=row["created_at"])
