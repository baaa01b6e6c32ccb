"""Readers and builders shared by the apply-engine tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from gateway.identity.model import Source, SourceGroup, SourceUser
from gateway.store.apply import ApplyOptions, ApplyResult, apply_state
from gateway.store.tenants import create_tenant


def new_tenant(engine: Engine, name: str = "Contoso") -> str:
    return create_tenant(engine, name, actor="test").id


def person(
    n: int | str,
    *,
    email: str | None = None,
    user_name: str | None = None,
    enabled: bool = True,
    name: str | None = None,
) -> SourceUser:
    """A Graph user with object id ``oid-{n}`` and mail ``user{n}@contoso.com``."""
    address = email if email is not None else f"user{n}@contoso.com"
    return SourceUser(
        external_id=f"oid-{n}",
        entra_object_id=f"oid-{n}",
        primary_email=address,
        user_name=user_name if user_name is not None else (address or f"user{n}@contoso.com"),
        display_name=name or f"User {n}",
        enabled=enabled,
    )


def group(external_id: str, name: str, members: Iterable[int | str]) -> SourceGroup:
    return SourceGroup(external_id, name, frozenset(f"oid-{m}" for m in members))


def snapshot(
    engine: Engine,
    tenant_id: str,
    users: Iterable[SourceUser],
    groups: Iterable[SourceGroup] = (),
    *,
    source: Source = Source.GRAPH,
    complete: bool = True,
    **options: object,
) -> ApplyResult:
    opts = ApplyOptions(**options)  # type: ignore[arg-type]
    return apply_state(
        engine, tenant_id, source, users=users, groups=groups, complete=complete, options=opts
    )


@dataclass(frozen=True)
class StoredUser:
    id: int
    primary_email: str
    email_key: str | None
    user_name: str
    display_name: str | None
    entra_object_id: str | None
    active: bool


def users_by_email(engine: Engine, tenant_id: str) -> dict[str, StoredUser]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, primary_email, email_key, user_name, display_name, entra_object_id,"
                " active FROM users WHERE tenant_id = :t"
            ),
            {"t": tenant_id},
        ).all()
    return {
        row.primary_email.lower(): StoredUser(
            int(row.id),
            row.primary_email,
            row.email_key,
            row.user_name,
            row.display_name,
            row.entra_object_id,
            bool(row.active),
        )
        for row in rows
    }


def user_count(engine: Engine, tenant_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM users WHERE tenant_id = :t"), {"t": tenant_id}
            ).scalar_one()
        )


def team_members(engine: Engine, tenant_id: str, team_name: str) -> set[tuple[str, str]]:
    """(primary email, owner) of every membership row of the team."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT u.email_key, tm.owner FROM team_memberships tm
                JOIN teams t ON t.id = tm.team_id JOIN users u ON u.id = tm.user_id
                WHERE t.tenant_id = :t AND t.name = :name
                """
            ),
            {"t": tenant_id, "name": team_name},
        ).all()
    return {(row[0], row[1]) for row in rows}


def user_tags(engine: Engine, tenant_id: str) -> dict[str, set[str]]:
    """Tags each active user gets from its groups (rule 6), by e-mail key."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT u.email_key, t.name FROM group_memberships gm
                JOIN users u ON u.id = gm.user_id
                JOIN groups g ON g.id = gm.group_id
                JOIN tags t ON t.id = g.tag_id
                WHERE u.tenant_id = :t AND u.active
                """
            ),
            {"t": tenant_id},
        ).all()
    tags: dict[str, set[str]] = {}
    for key, name in rows:
        tags.setdefault(key, set()).add(name)
    return tags


def tags(engine: Engine, tenant_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, id FROM tags WHERE tenant_id = :t"), {"t": tenant_id}
        ).all()
    return {name: int(tag_id) for name, tag_id in rows}


def changed(result: ApplyResult) -> dict[str, int]:
    """The non-zero counts of a result."""
    return {key: value for key, value in result.counts.items() if value}
