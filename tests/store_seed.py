"""Rows the sync engine would write, inserted directly so store and API tests can read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, insert

from gateway.crypto import Secret, SecretBox, client_secret_aad, generate_key
from gateway.identity.emails import email_key
from gateway.identity.rules import ENTRA_TEAM_KEY, ENTRA_TEAM_NAME, name_key
from gateway.store.access import UserAccess, effective_access
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.integrations import (
    EntraCredentials,
    IntegrationRecord,
    Preferences,
    SiteGrantSpec,
    save_integration,
    save_preferences,
)
from gateway.store.queries import table
from gateway.store.sites import create_site
from gateway.store.tables import utcnow
from gateway.store.teams import add_member, create_team
from gateway.store.tenants import create_tenant

ACTOR = "test"
SECRET_VALUE = "s3cr3t~Value_that-must.never.leak"


def secret_box() -> SecretBox:
    return SecretBox.from_keys([generate_key()])


def credentials(secret: str = SECRET_VALUE) -> EntraCredentials:
    return EntraCredentials(
        entra_tenant_id="8f0e1c2a-1111-4a2b-9c3d-0123456789ab",
        client_id="11111111-2222-4333-8444-555555555555",
        client_secret=Secret(secret),
        cloud="global",
    )


def encrypted_integration(
    conn: Connection, box: SecretBox, tenant_id: str, secret: str = SECRET_VALUE
) -> str:
    """An integration row with ``secret`` under the box's newest key, written
    directly (the tenant must exist); returns the key id."""
    ciphertext, key_id = box.encrypt(secret, aad=client_secret_aad(tenant_id))
    conn.execute(
        insert(table("integrations")).values(
            tenant_id=tenant_id,
            entra_tenant_id="e",
            client_id="c",
            secret_ciphertext=ciphertext,
            secret_key_id=key_id,
            cloud="global",
            status="not_validated",
            enabled=True,
            sync_enabled=False,
            sync_interval_minutes=40,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    return key_id


def integration(engine: Engine, box: SecretBox, tenant_id: str) -> IntegrationRecord:
    return save_integration(engine, box, tenant_id, credentials(), actor=ACTOR)


def user(
    conn: Connection,
    tenant_id: str,
    email: str,
    *,
    user_name: str | None = None,
    active: bool = True,
    display_name: str | None = None,
    object_id: str | None = None,
    sources: Sequence[str] = ("graph",),
) -> int:
    """A user as sync leaves it, with one link per source."""
    name = user_name if user_name is not None else email
    user_id: int = conn.execute(
        insert(table("users"))
        .values(
            tenant_id=tenant_id,
            primary_email=email,
            email_key=email_key(email),
            user_name=name,
            user_name_key=email_key(name),
            display_name=display_name,
            entra_object_id=object_id,
            active=active,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .returning(table("users").c.id)
    ).scalar_one()
    for source in sources:
        conn.execute(
            insert(table("user_sources")).values(
                user_id=user_id,
                source=source,
                tenant_id=tenant_id,
                external_id=f"{source}-{user_id}",
                enabled=active,
            )
        )
    return user_id


def tagged_group(
    conn: Connection, tenant_id: str, external_id: str, tag: str | None, members: Sequence[int]
) -> int:
    """A synced group whose display name is ``tag`` (no tag when ``None``)."""
    tag_id = None
    if tag is not None:
        tag_id = conn.execute(
            insert(table("tags"))
            .values(tenant_id=tenant_id, name=tag, name_key=name_key(tag), created_at=utcnow())
            .returning(table("tags").c.id)
        ).scalar_one()
    group_id: int = conn.execute(
        insert(table("groups"))
        .values(
            tenant_id=tenant_id,
            source="graph",
            external_id=external_id,
            display_name=tag or "a group name far too long to become a tag",
            tag_id=tag_id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .returning(table("groups").c.id)
    ).scalar_one()
    for user_id in members:
        conn.execute(
            insert(table("group_memberships")).values(
                group_id=group_id, user_id=user_id, tenant_id=tenant_id
            )
        )
    return group_id


def entra_team(conn: Connection, tenant_id: str) -> int:
    """The team sync maintains (rule 5)."""
    team_id: int = conn.execute(
        insert(table("teams"))
        .values(
            tenant_id=tenant_id,
            name=ENTRA_TEAM_NAME,
            name_key=name_key(ENTRA_TEAM_NAME),
            system_key=ENTRA_TEAM_KEY,
            created_at=utcnow(),
        )
        .returning(table("teams").c.id)
    ).scalar_one()
    return team_id


def team_member(conn: Connection, tenant_id: str, team_id: int, user_id: int, owner: str) -> None:
    conn.execute(
        insert(table("team_memberships")).values(
            team_id=team_id, user_id=user_id, owner=owner, tenant_id=tenant_id, created_at=utcnow()
        )
    )


def sync_run(
    conn: Connection,
    tenant_id: str,
    *,
    status: str = "succeeded",
    started_at: datetime | None = None,
    warnings: list[object] | None = None,
) -> int:
    run_id: int = conn.execute(
        insert(table("sync_runs"))
        .values(
            tenant_id=tenant_id,
            source="graph",
            kind="full",
            status=status,
            dry_run=False,
            started_at=started_at or utcnow(),
            finished_at=utcnow(),
            counts={"users_created": 1},
            warnings=warnings or [],
            error=None,
        )
        .returning(table("sync_runs").c.id)
    ).scalar_one()
    return run_id


class World:
    """One tenant with an integration, a site grant, groups, teams and users."""

    def __init__(self, engine: Engine, tenant_id: str | None = None, box: SecretBox | None = None):
        self.engine = engine
        self.tenant = tenant_id or create_tenant(engine, "Acme", actor="cli").id
        self.other = create_tenant(engine, "Other", actor="cli").id
        integration(engine, box or secret_box(), self.tenant)
        self.site = create_site(engine, self.tenant, "Berlin", actor="a").id
        save_preferences(
            engine, self.tenant, Preferences(True, (), (SiteGrantSpec(self.site, True),)), actor="a"
        )
        self.ops = create_team(engine, self.tenant, "Ops", actor="a").id
        with write_transaction(engine) as conn:
            self.ann = user(conn, self.tenant, "Ann@Example.com", display_name="Ann")
            self.bob = user(conn, self.tenant, "bob@example.com", user_name="bob@corp.example")
            self.cat = user(conn, self.tenant, "cat@example.com", active=False)
            # Created by hand, never synced: no source link.
            self.dan = user(conn, self.tenant, "dan@example.com", sources=())
            self.stranger = user(conn, self.other, "ann@example.com")
            self.entra_team = entra_team(conn, self.tenant)
            for user_id in (self.ann, self.bob):
                team_member(conn, self.tenant, self.entra_team, user_id, "graph")
            tagged_group(conn, self.tenant, "g1", "Sales", [self.ann, self.cat, self.dan])
            tagged_group(conn, self.tenant, "g2", "Admins", [self.ann])
            tagged_group(conn, self.tenant, "g3", None, [self.bob])
        add_member(engine, self.tenant, self.ops, self.cat, actor="a")

    def access(self) -> dict[int, UserAccess]:
        with read_transaction(self.engine) as conn:
            return effective_access(
                conn, self.tenant, [self.ann, self.bob, self.cat, self.dan, self.stranger]
            )
