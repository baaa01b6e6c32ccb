"""Sites (Cloud Gateways) an admin can grant to synced users (rule 7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, select

from gateway.store.engine import read_transaction
from gateway.store.named import clean_name, create_named
from gateway.store.queries import chunks, table

_sites = table("sites")

SITE_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class SiteRecord:
    id: int
    name: str
    created_at: datetime


def clean_site_name(name: str) -> str:
    """The name as stored: trimmed, 1 to 100 characters."""
    return clean_name(name, what="Site", max_length=SITE_NAME_MAX)


def create_site(engine: Engine, tenant_id: str, name: str, *, actor: str) -> SiteRecord:
    """Create a site; a name already used in the tenant (any case) raises :class:`ConflictError`."""
    cleaned = clean_site_name(name)
    site_id, created_at = create_named(
        engine, _sites, tenant_id, cleaned, actor=actor, subject_type="site"
    )
    return SiteRecord(id=site_id, name=cleaned, created_at=created_at)


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


def _record(row: RowMapping) -> SiteRecord:
    return SiteRecord(id=row["id"], name=row["name"], created_at=row["created_at"])
