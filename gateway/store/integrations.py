"""The tenant's Entra integration: credentials, on/off, and sync preferences (rules 1, 9, 11).

The client secret is stored only encrypted, bound to its tenant row, and
nothing this module returns carries it; :func:`load_client_secret` hands it
out wrapped in :class:`~gateway.crypto.Secret` for the one caller that sends it
to Entra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, bindparam, delete, insert, select, update

from gateway.clouds import CLOUD_NAMES, Cloud, CloudEndpoints, CloudName
from gateway.crypto import Secret, SecretBox, client_secret_aad
from gateway.errors import NotFoundError, ValidationFailedError
from gateway.store import audit
from gateway.store.access import SYNC_GRANT_OWNER
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import insert_ignoring_duplicates, table
from gateway.store.sites import existing_site_ids
from gateway.store.tables import utcnow

_integrations = table("integrations")
_groups = table("integration_groups")
_grants = table("site_grants")

NOT_VALIDATED = "not_validated"
SYNC_INTERVAL_MIN = 5
SYNC_INTERVAL_MAX = 1440
SYNC_INTERVAL_DEFAULT = 40


@dataclass(frozen=True, slots=True)
class EntraCredentials:
    """What an admin submits to connect the tenant to Entra (already validated)."""

    entra_tenant_id: str
    client_id: str
    client_secret: Secret = field(repr=False)
    cloud: Cloud
    secret_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IntegrationRecord:
    """The integration as shown to admins: everything except the secret."""

    tenant_id: str
    entra_tenant_id: str
    client_id: str
    cloud: Cloud
    secret_expires_at: datetime | None
    status: str
    status_detail: str | None
    enabled: bool
    sync_enabled: bool
    sync_interval_minutes: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SiteGrantSpec:
    site_id: int
    remote_access: bool


@dataclass(frozen=True, slots=True)
class Preferences:
    """What sync does: whether it runs, which groups, which sites, how often."""

    sync_enabled: bool
    groups: tuple[str, ...]
    sites: tuple[SiteGrantSpec, ...]
    sync_interval_minutes: int = SYNC_INTERVAL_DEFAULT


def save_integration(
    engine: Engine, box: SecretBox, tenant_id: str, credentials: EntraCredentials, *, actor: str
) -> IntegrationRecord:
    """Create or replace the tenant's credentials; the status goes back to ``not_validated``.

    Replacing keeps ``enabled`` and the preferences.
    """
    ciphertext, key_id = box.encrypt(credentials.client_secret, aad=client_secret_aad(tenant_id))
    now = utcnow()
    values = {
        "entra_tenant_id": credentials.entra_tenant_id,
        "client_id": credentials.client_id,
        "secret_ciphertext": ciphertext,
        "secret_key_id": key_id,
        "cloud": _cloud_to_json(credentials.cloud),
        "secret_expires_at": credentials.secret_expires_at,
        "status": NOT_VALIDATED,
        "status_detail": None,
        "updated_at": now,
    }
    with write_transaction(engine) as conn:
        before = _find(conn, tenant_id)
        if before is None:
            conn.execute(
                insert(_integrations).values(
                    tenant_id=tenant_id,
                    enabled=True,
                    sync_enabled=False,
                    sync_interval_minutes=SYNC_INTERVAL_DEFAULT,
                    created_at=now,
                    **values,
                )
            )
        else:
            conn.execute(
                update(_integrations).where(_integrations.c.tenant_id == tenant_id).values(**values)
            )
        after = _find(conn, tenant_id)
        assert after is not None
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="integration.saved",
            subject_type="integration",
            subject_id="entra",
            before=None if before is None else _audit_view(before),
            # The secret itself never goes into the log; only that one was set.
            after={**_audit_view(after), "client_secret": "set"},
        )
    return after


def get_integration(engine: Engine, tenant_id: str) -> IntegrationRecord | None:
    """The tenant's integration without its secret, or ``None`` when not configured."""
    with read_transaction(engine) as conn:
        return _find(conn, tenant_id)


def set_enabled(engine: Engine, tenant_id: str, enabled: bool, *, actor: str) -> IntegrationRecord:
    """Enable or disable the integration (rule 9); users, teams and preferences stay."""
    with write_transaction(engine) as conn:
        before = _require(conn, tenant_id)
        if before.enabled == enabled:
            return before
        conn.execute(
            update(_integrations)
            .where(_integrations.c.tenant_id == tenant_id)
            .values(enabled=enabled, updated_at=utcnow())
        )
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="integration.enabled" if enabled else "integration.disabled",
            subject_type="integration",
            subject_id="entra",
            before={"enabled": before.enabled},
            after={"enabled": enabled},
        )
        after = _find(conn, tenant_id)
        assert after is not None
    return after


def load_client_secret(engine: Engine, box: SecretBox, tenant_id: str) -> Secret | None:
    """The decrypted client secret, for the Graph client only; ``None`` when not configured."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(_integrations.c.secret_ciphertext, _integrations.c.secret_key_id).where(
                _integrations.c.tenant_id == tenant_id
            )
        ).first()
    if row is None:
        return None
    return box.decrypt_secret(
        bytes(row.secret_ciphertext), row.secret_key_id, aad=client_secret_aad(tenant_id)
    )


def get_preferences(engine: Engine, tenant_id: str) -> Preferences:
    """The sync preferences; raises :class:`NotFoundError` when no integration is configured."""
    with read_transaction(engine) as conn:
        return _preferences(conn, tenant_id, _require(conn, tenant_id))


def save_preferences(
    engine: Engine, tenant_id: str, preferences: Preferences, *, actor: str
) -> Preferences:
    """Replace the preferences; the group and site sets are replaced as a whole.

    Site ids that are not sites of this tenant raise :class:`ValidationFailedError`
    naming them, and nothing changes.
    """
    interval = preferences.sync_interval_minutes
    if not SYNC_INTERVAL_MIN <= interval <= SYNC_INTERVAL_MAX:
        raise ValidationFailedError(
            f"sync_interval_minutes must be between {SYNC_INTERVAL_MIN} and {SYNC_INTERVAL_MAX}.",
            details=[{"field": "sync_interval_minutes", "message": "out of range"}],
        )
    group_ids = sorted(set(preferences.groups))
    grants = {grant.site_id: grant.remote_access for grant in preferences.sites}
    with write_transaction(engine) as conn:
        current = _require(conn, tenant_id)
        unknown = sorted(set(grants) - existing_site_ids(conn, tenant_id, list(grants)))
        if unknown:
            raise ValidationFailedError(
                "Unknown site ids: "
                + ", ".join(str(site_id) for site_id in unknown)
                + "; create sites with POST /tenants/{tenant_id}/sites first.",
                details={"field": "sites", "unknown_site_ids": [str(s) for s in unknown]},
            )
        before = _preferences(conn, tenant_id, current)
        conn.execute(
            update(_integrations)
            .where(_integrations.c.tenant_id == tenant_id)
            .values(
                sync_enabled=preferences.sync_enabled,
                sync_interval_minutes=interval,
                updated_at=utcnow(),
            )
        )
        conn.execute(delete(_groups).where(_groups.c.tenant_id == tenant_id))
        insert_ignoring_duplicates(
            conn, _groups, [{"tenant_id": tenant_id, "entra_group_id": g} for g in group_ids]
        )
        conn.execute(
            delete(_grants).where(
                _grants.c.tenant_id == tenant_id, _grants.c.owner == SYNC_GRANT_OWNER
            )
        )
        insert_ignoring_duplicates(
            conn,
            _grants,
            [
                {
                    "tenant_id": tenant_id,
                    "site_id": site_id,
                    "owner": SYNC_GRANT_OWNER,
                    "remote_access": remote,
                }
                for site_id, remote in sorted(grants.items())
            ],
        )
        after = _preferences(conn, tenant_id, _require(conn, tenant_id))
        if after != before:
            audit.record(
                conn,
                tenant_id=tenant_id,
                actor=actor,
                action="integration.preferences_saved",
                subject_type="integration",
                subject_id="entra",
                before=_preferences_view(before),
                after=_preferences_view(after),
            )
    return after


def _require(conn: Connection, tenant_id: str) -> IntegrationRecord:
    record = _find(conn, tenant_id)
    if record is None:
        raise NotFoundError(
            "This tenant has no Entra integration yet; configure it with "
            "PUT /tenants/{tenant_id}/integrations/entra first."
        )
    return record


def find_integration_sealed(
    conn: Connection, tenant_id: str
) -> tuple[IntegrationRecord, bytes, str] | None:
    """:func:`find_integration` with the client secret as stored (ciphertext and
    key id), in one query: the SSO callback's redemption needs both."""
    row = conn.execute(_FIND_SEALED, {"tenant_id": tenant_id}).first()
    if row is None:
        return None
    mapping = row._mapping
    return _record(mapping), bytes(mapping["secret_ciphertext"]), mapping["secret_key_id"]


# What an IntegrationRecord is read from (never the sealed secret).
_RECORD_COLUMNS = (
    _integrations.c.tenant_id,
    _integrations.c.entra_tenant_id,
    _integrations.c.client_id,
    _integrations.c.cloud,
    _integrations.c.secret_expires_at,
    _integrations.c.status,
    _integrations.c.status_detail,
    _integrations.c.enabled,
    _integrations.c.sync_enabled,
    _integrations.c.sync_interval_minutes,
    _integrations.c.created_at,
    _integrations.c.updated_at,
)


def _find(conn: Connection, tenant_id: str) -> IntegrationRecord | None:
    row = conn.execute(
        select(*_RECORD_COLUMNS).where(_integrations.c.tenant_id == tenant_id)
    ).first()
    return None if row is None else _record(row._mapping)


# Built once: the sign-in callback runs it on every sign-in.
_FIND_SEALED = select(
    *_RECORD_COLUMNS,
    _integrations.c.secret_ciphertext,
    _integrations.c.secret_key_id,
).where(_integrations.c.tenant_id == bindparam("tenant_id"))


def _preferences(conn: Connection, tenant_id: str, record: IntegrationRecord) -> Preferences:
    groups = conn.execute(
        select(_groups.c.entra_group_id)
        .where(_groups.c.tenant_id == tenant_id)
        .order_by(_groups.c.entra_group_id)
    ).scalars()
    grants = conn.execute(
        select(_grants.c.site_id, _grants.c.remote_access)
        .where(_grants.c.tenant_id == tenant_id, _grants.c.owner == SYNC_GRANT_OWNER)
        .order_by(_grants.c.site_id)
    )
    return Preferences(
        sync_enabled=record.sync_enabled,
        groups=tuple(groups),
        sites=tuple(
            SiteGrantSpec(site_id=r.site_id, remote_access=bool(r.remote_access)) for r in grants
        ),
        sync_interval_minutes=record.sync_interval_minutes,
    )


def _cloud_to_json(cloud: Cloud) -> Any:
    if isinstance(cloud, CloudEndpoints):
        return {"login_url": cloud.login_url, "graph_url": cloud.graph_url}
    return cloud


def _cloud_from_json(value: Any) -> Cloud:
    if isinstance(value, dict):
        return CloudEndpoints(login_url=str(value["login_url"]), graph_url=str(value["graph_url"]))
    if value in CLOUD_NAMES:
        name: CloudName = value
        return name
    raise ValueError(f"stored cloud value {value!r} is not a known cloud")


def _record(row: RowMapping) -> IntegrationRecord:
    return IntegrationRecord(
        tenant_id=row["tenant_id"],
        entra_tenant_id=row["entra_tenant_id"],
        client_id=row["client_id"],
        cloud=_cloud_from_json(row["cloud"]),
        secret_expires_at=row["secret_expires_at"],
        status=row["status"],
        status_detail=row["status_detail"],
        enabled=bool(row["enabled"]),
        sync_enabled=bool(row["sync_enabled"]),
        sync_interval_minutes=int(row["sync_interval_minutes"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _audit_view(record: IntegrationRecord) -> dict[str, Any]:
    expires = record.secret_expires_at
    return {
        "entra_tenant_id": record.entra_tenant_id,
        "client_id": record.client_id,
        "cloud": _cloud_to_json(record.cloud),
        "secret_expires_at": None if expires is None else expires.isoformat(),
        "status": record.status,
        "enabled": record.enabled,
    }


def _preferences_view(preferences: Preferences) -> dict[str, Any]:
    return {
        "sync_enabled": preferences.sync_enabled,
        "groups": list(preferences.groups),
        "sites": [
            {"site_id": str(s.site_id), "remote_access": s.remote_access} for s in preferences.sites
        ],
        "sync_interval_minutes": preferences.sync_interval_minutes,
    }


def site_ids_of(specs: Sequence[SiteGrantSpec]) -> list[int]:
    """The site ids a list of grants names."""
    return [spec.site_id for spec in specs]


def find_integration(conn: Connection, tenant_id: str) -> IntegrationRecord | None:
    """:func:`get_integration` inside the caller's transaction (the SSO callback
    reads it in the same transaction that takes its pending sign-in)."""
    return _find(conn, tenant_id)
