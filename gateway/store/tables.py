"""SQLModel tables of the identity store.

Every table carries ``tenant_id`` and every query filters on it. Memberships
carry an ``owner`` (a sync source or ``manual``) so that one owner never removes
what another owns. Per-user tags and site access are derived from group rows
and the integration's site grants rather than materialised per user, which keeps
a 100k-user tenant small.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so without this SQLite would hand back naive values
    while PostgreSQL hands back aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False) -> Any:
    return Column(UtcDateTime(), nullable=nullable)


def _fk_tenant() -> Any:
    return Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _tenant_of_parent() -> Any:
    # Link rows carry the tenant for filtering, but no foreign key of their own:
    # their user or group already belongs to the tenant (and cascades with it),
    # and a third per-row check costs a third of a 200k-membership bulk insert.
    return Column(String(32), nullable=False)


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Integration(SQLModel, table=True):
    """The tenant's one Entra integration (rule 1) and its preferences."""

    __tablename__ = "integrations"

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    entra_tenant_id: str = Field(sa_column=Column(String(64), nullable=False))
    client_id: str = Field(sa_column=Column(String(64), nullable=False))
    secret_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    secret_key_id: str = Field(sa_column=Column(String(32), nullable=False))
    cloud: Any = Field(sa_column=Column(JSON, nullable=False))
    secret_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    status: str = Field(default="not_validated", sa_column=Column(String(32), nullable=False))
    status_detail: str | None = Field(default=None, sa_column=Column(String(2000)))
    enabled: bool = Field(default=True, nullable=False)
    sync_enabled: bool = Field(default=False, nullable=False)
    sync_interval_minutes: int = Field(default=40, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class IntegrationGroup(SQLModel, table=True):
    """An Entra group the admin selected for sync."""

    __tablename__ = "integration_groups"

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    entra_group_id: str = Field(sa_column=Column(String(64), primary_key=True))


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        Index("ux_users_tenant_email", "tenant_id", "email_key", unique=True),
        Index("ux_users_tenant_object", "tenant_id", "entra_object_id", unique=True),
        Index("ix_users_tenant_user_name", "tenant_id", "user_name_key"),
        Index("ix_users_tenant_active", "tenant_id", "active", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    primary_email: str = Field(sa_column=Column(String(320), nullable=False))
    # Normalised key (trimmed, lower case); NULL once released to a newer user.
    email_key: str | None = Field(default=None, sa_column=Column(String(320)))
    user_name: str = Field(sa_column=Column(String(320), nullable=False))
    user_name_key: str = Field(sa_column=Column(String(320), nullable=False))
    display_name: str | None = Field(default=None, sa_column=Column(String(256)))
    entra_object_id: str | None = Field(default=None, sa_column=Column(String(64)))
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    deactivated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class UserSource(SQLModel, table=True):
    """A user's presence in one sync source; the user is active while any link is enabled."""

    __tablename__ = "user_sources"
    __table_args__ = (
        Index("ux_user_sources_external", "tenant_id", "source", "external_id", unique=True),
        {"sqlite_with_rowid": False},
    )

    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    source: str = Field(sa_column=Column(String(16), primary_key=True))
    tenant_id: str = Field(sa_column=_tenant_of_parent())
    external_id: str = Field(sa_column=Column(String(64), nullable=False))
    enabled: bool = Field(nullable=False)
    # Hash of the source's record as last applied in full; a snapshot skips
    # users whose record hashes the same. NULL forces the next apply.
    fingerprint: int | None = Field(default=None, sa_column=Column(BigInteger))


class SourceState(SQLModel, table=True):
    """Per tenant and source: a generation bumped by every apply, so a snapshot
    diffed against the store can tell that someone applied in between."""

    __tablename__ = "source_states"

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    source: str = Field(sa_column=Column(String(16), primary_key=True))
    generation: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # Rows the source owned in the Entra team when its last apply committed;
    # fewer now means an admin removed some, and the next apply looks at all.
    team_members: int | None = Field(default=None, sa_column=Column(BigInteger))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Tag(SQLModel, table=True):
    """A static tag; sync-owned tags are named after synced groups (rule 6)."""

    __tablename__ = "tags"
    __table_args__ = (Index("ux_tags_tenant_name", "tenant_id", "name_key", unique=True),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    name: str = Field(sa_column=Column(String(29), nullable=False))
    name_key: str = Field(sa_column=Column(String(29), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class UserTag(SQLModel, table=True):
    """A tag an admin gave a user by hand. Tags from groups are not stored per
    user: they follow from group memberships (rule 6)."""

    __tablename__ = "user_tags"
    __table_args__ = (
        Index("ix_user_tags_user", "user_id", "tag_id"),
        {"sqlite_with_rowid": False},
    )

    tag_id: int = Field(
        sa_column=Column(BigId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    owner: str = Field(sa_column=Column(String(16), primary_key=True))
    tenant_id: str = Field(sa_column=_tenant_of_parent())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Group(SQLModel, table=True):
    __tablename__ = "groups"
    __table_args__ = (
        Index("ux_groups_external", "tenant_id", "source", "external_id", unique=True),
        Index("ix_groups_tag", "tag_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    source: str = Field(sa_column=Column(String(16), nullable=False))
    external_id: str = Field(sa_column=Column(String(64), nullable=False))
    display_name: str = Field(sa_column=Column(String(256), nullable=False))
    tag_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("tags.id", ondelete="SET NULL"))
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class GroupMembership(SQLModel, table=True):
    __tablename__ = "group_memberships"
    __table_args__ = (
        Index("ix_group_memberships_user", "user_id", "group_id"),
        {"sqlite_with_rowid": False},
    )

    group_id: int = Field(
        sa_column=Column(BigId, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    tenant_id: str = Field(sa_column=_tenant_of_parent())


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    __table_args__ = (Index("ux_teams_tenant_name", "tenant_id", "name_key", unique=True),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    name: str = Field(sa_column=Column(String(100), nullable=False))
    name_key: str = Field(sa_column=Column(String(100), nullable=False))
    # Set for teams whose sync-owned membership the rules maintain (e.g. "entra").
    system_key: str | None = Field(default=None, sa_column=Column(String(32)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_memberships"
    __table_args__ = (
        Index("ix_team_memberships_user", "user_id", "team_id"),
        {"sqlite_with_rowid": False},
    )

    team_id: int = Field(
        sa_column=Column(BigId, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    owner: str = Field(sa_column=Column(String(16), primary_key=True))
    tenant_id: str = Field(sa_column=_tenant_of_parent())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Site(SQLModel, table=True):
    __tablename__ = "sites"
    __table_args__ = (Index("ux_sites_tenant_name", "tenant_id", "name_key", unique=True),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    name: str = Field(sa_column=Column(String(100), nullable=False))
    name_key: str = Field(sa_column=Column(String(100), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class SiteGrant(SQLModel, table=True):
    """A site (Cloud Gateway) granted to every active synced user of the tenant (rule 7)."""

    __tablename__ = "site_grants"

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    site_id: int = Field(
        sa_column=Column(BigId, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    owner: str = Field(default="sync", sa_column=Column(String(16), primary_key=True))
    remote_access: bool = Field(default=False, nullable=False)


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_tenant", "tenant_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    source: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    dry_run: bool = Field(default=False, nullable=False)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    counts: Any = Field(default=None, sa_column=Column(JSON))
    warnings: Any = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(String(2000)))


class ApiToken(SQLModel, table=True):
    """An admin or SCIM bearer token, stored only as a SHA-256 hash."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index("ux_api_tokens_hash", "token_hash", unique=True),
        Index("ix_api_tokens_tenant", "tenant_id", "kind"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    tenant_id: str | None = Field(
        default=None, sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"))
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hint: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class AuditEntry(SQLModel, table=True):
    """Who or what changed what, with before/after for memberships and activation."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_tenant_at", "tenant_id", "id"),
        Index("ix_audit_subject", "tenant_id", "subject_type", "subject_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str | None = Field(default=None, sa_column=Column(String(32)))
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    subject_type: str = Field(sa_column=Column(String(32), nullable=False))
    subject_id: str | None = Field(default=None, sa_column=Column(String(64)))
    run_id: int | None = Field(default=None, sa_column=Column(BigId))
    before: Any = Field(default=None, sa_column=Column(JSON))
    after: Any = Field(default=None, sa_column=Column(JSON))


# --- SSO bridge (issue 5) -------------------------------------------------------------


class SsoPendingSignIn(SQLModel, table=True):
    """A sign-in sent to Entra and not back yet: single use, bound to one browser.

    Only hashes of ``state`` and of the browser's binding cookie are kept, so a
    database reader cannot complete someone else's sign-in.
    """

    __tablename__ = "sso_pending_sign_ins"
    __table_args__ = (Index("ix_sso_pending_expires", "expires_at"),)

    state_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant_id: str = Field(sa_column=_fk_tenant())
    browser_hash: str = Field(sa_column=Column(String(64), nullable=False))
    nonce: str = Field(sa_column=Column(String(64), nullable=False))
    code_verifier: str = Field(sa_column=Column(String(128), nullable=False))
    return_to: str | None = Field(default=None, sa_column=Column(String(2000)))
    # Set when an admin's test sign-in started this flow: no session follows.
    test_id: str | None = Field(default=None, sa_column=Column(String(32)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())


class SsoSession(SQLModel, table=True):
    """A signed-in browser: the cookie carries a random token, the store its hash."""

    __tablename__ = "sso_sessions"
    __table_args__ = (
        Index("ix_sso_sessions_user", "tenant_id", "user_id"),
        Index("ix_sso_sessions_expires", "absolute_expires_at"),
    )

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    tenant_id: str = Field(sa_column=_fk_tenant())
    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    absolute_expires_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SsoSignInTest(SQLModel, table=True):
    """An admin's test sign-in: started by a one-time link, its checks kept as the result."""

    __tablename__ = "sso_sign_in_tests"
    __table_args__ = (
        Index("ux_sso_tests_start", "start_hash", unique=True),
        Index("ix_sso_tests_tenant", "tenant_id", "created_at"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    tenant_id: str = Field(sa_column=_fk_tenant())
    start_hash: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    result: Any = Field(default=None, sa_column=Column(JSON))


class SsoKey(SQLModel, table=True):
    """The gateway's own keys: ID-token signing keys and the session-cookie MAC key.

    Service-wide (no tenant): every replica signs with the same keys. The
    private part is encrypted under ``GATEWAY_SECRET_KEYS`` like client secrets.
    """

    __tablename__ = "sso_keys"

    kid: str = Field(sa_column=Column(String(64), primary_key=True))
    use: str = Field(sa_column=Column(String(16), nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    secret_key_id: str = Field(sa_column=Column(String(32), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    retired_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# -- Graph pull sync (issue 3) ----------------------------------------------


class GraphSyncState(SQLModel, table=True):
    """Where the tenant's Graph sync stands: delta links (stored only after the
    changes they cover are committed) and the nesting of the synced groups."""

    __tablename__ = "graph_sync_states"

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    # Hash of the selected group ids the links and nesting were read for.
    selection_key: str = Field(sa_column=Column(String(64), nullable=False))
    users_delta_link: str = Field(sa_column=Column(Text, nullable=False))
    # [{"ids": [group ids], "link": delta link}], at most 50 ids each.
    groups_delta_links: Any = Field(sa_column=Column(JSON, nullable=False))
    # {group id: [nested child group ids]} for every group read.
    group_edges: Any = Field(sa_column=Column(JSON, nullable=False))
    last_full_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class GraphDirectMember(SQLModel, table=True):
    """Direct user members of every group a Graph sync reads (selected or nested),
    as of the last committed run: a delta run decides with them whether a user
    removed from a nested group is still in a selected group another way."""

    __tablename__ = "graph_direct_members"
    __table_args__ = (
        Index("ix_graph_direct_members_user", "tenant_id", "user_id"),
        {"sqlite_with_rowid": False},
    )

    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: str = Field(sa_column=Column(String(64), primary_key=True))


class SyncRunReport(SQLModel, table=True):
    """What a Graph run reports beyond counts: kind and why, timings, Graph traffic."""

    __tablename__ = "sync_run_reports"

    run_id: int = Field(
        sa_column=Column(BigId, ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True)
    )
    tenant_id: str = Field(sa_column=Column(String(32), nullable=False))
    report: Any = Field(sa_column=Column(JSON, nullable=False))


# -- SCIM server (issue 4) ----------------------------------------------------
# The SCIM resources as Entra pushed them (every attribute, meta, version). The
# identity they describe lives in the tables above, written by the apply engine
# from the change log below; these rows are what /scim/v2 serves and filters.


class ScimUser(SQLModel, table=True):
    __tablename__ = "scim_users"
    __table_args__ = (
        Index("ux_scim_users_id", "id", unique=True),
        Index("ux_scim_users_user_name", "tenant_id", "user_name_key", unique=True),
        Index("ix_scim_users_tenant", "tenant_id", "seq"),
        Index("ix_scim_users_external", "tenant_id", "external_id"),
    )

    seq: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    id: str = Field(sa_column=Column(String(36), nullable=False))
    tenant_id: str = Field(sa_column=_fk_tenant())
    user_name: str = Field(sa_column=Column(String(320), nullable=False))
    user_name_key: str = Field(sa_column=Column(String(320), nullable=False))
    external_id: str | None = Field(default=None, sa_column=Column(String(256)))
    display_name: str | None = Field(default=None, sa_column=Column(String(256)))
    active: bool = Field(default=True, nullable=False)
    # The resource's JSON text without id, meta and groups (spliced into answers as is).
    resource: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ScimGroup(SQLModel, table=True):
    __tablename__ = "scim_groups"
    __table_args__ = (
        Index("ux_scim_groups_id", "id", unique=True),
        Index("ux_scim_groups_name", "tenant_id", "display_name_key", unique=True),
        Index("ix_scim_groups_tenant", "tenant_id", "seq"),
        Index("ix_scim_groups_external", "tenant_id", "external_id"),
    )

    seq: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    id: str = Field(sa_column=Column(String(36), nullable=False))
    tenant_id: str = Field(sa_column=_fk_tenant())
    display_name: str = Field(sa_column=Column(String(256), nullable=False))
    display_name_key: str = Field(sa_column=Column(String(256), nullable=False))
    external_id: str | None = Field(default=None, sa_column=Column(String(256)))
    # The resource's JSON text without id, meta and members.
    resource: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ScimGroupMember(SQLModel, table=True):
    __tablename__ = "scim_group_members"
    __table_args__ = (
        Index("ix_scim_group_members_user", "user_seq", "group_seq"),
        {"sqlite_with_rowid": False},
    )

    group_seq: int = Field(
        sa_column=Column(BigId, ForeignKey("scim_groups.seq", ondelete="CASCADE"), primary_key=True)
    )
    user_seq: int = Field(
        sa_column=Column(BigId, ForeignKey("scim_users.seq", ondelete="CASCADE"), primary_key=True)
    )
    tenant_id: str = Field(sa_column=_tenant_of_parent())


class ScimChange(SQLModel, table=True):
    """What a SCIM request changed, written in its transaction; the identity
    applier drains it into the apply engine in batches (see gateway/store/scim_identity.py)."""

    __tablename__ = "scim_changes"
    __table_args__ = (Index("ix_scim_changes_tenant", "tenant_id", "seq"),)

    seq: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    tenant_id: str = Field(sa_column=_fk_tenant())
    # "user" or "group" (apply the resource as it is now, or its removal), or
    # "member+" / "member-" (one membership added or removed).
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    resource_id: str = Field(sa_column=Column(String(36), nullable=False))
    member_id: str | None = Field(default=None, sa_column=Column(String(36)))


class Lease(SQLModel, table=True):
    """Which process does one kind of work for a tenant now (the Graph sync, the
    SCIM identity apply); an expired lease may be taken over."""

    __tablename__ = "leases"

    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    tenant_id: str = Field(
        sa_column=Column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    )
    holder: str = Field(sa_column=Column(String(64), nullable=False))
    expires_at: datetime = Field(sa_column=_ts())


metadata = SQLModel.metadata
