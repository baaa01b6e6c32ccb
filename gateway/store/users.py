"""Reading users with their derived access, for the admin API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, RowMapping, select

from gateway.identity.emails import email_key
from gateway.store.access import UserAccess, effective_access, holds_tag, in_team
from gateway.store.engine import read_transaction
from gateway.store.queries import Page, table

_users = table("users")

_COLUMNS = (
    _users.c.id,
    _users.c.primary_email,
    _users.c.user_name,
    _users.c.display_name,
    _users.c.active,
    _users.c.entra_object_id,
)


@dataclass(frozen=True, slots=True)
class UserFilter:
    """Listing filters; names and the address compare case-insensitively."""

    email: str | None = None
    tag: str | None = None
    team: str | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    primary_email: str
    user_name: str
    display_name: str | None
    active: bool
    entra_object_id: str | None
    access: UserAccess


def list_users(
    engine: Engine,
    tenant_id: str,
    *,
    filters: UserFilter = UserFilter(),
    after_id: int | None = None,
    limit: int = 100,
) -> Page[UserView]:
    """One page of the tenant's users in id order, starting after ``after_id``.

    The page and its derived access are read in one snapshot with a fixed
    number of queries, whatever the page size.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    with read_transaction(engine) as conn:
        conditions = [
            _users.c.tenant_id == tenant_id,
            *_filter_conditions(conn, tenant_id, filters),
        ]
        if after_id is not None:
            conditions.append(_users.c.id > after_id)
        rows = list(
            conn.execute(
                select(*_COLUMNS).where(*conditions).order_by(_users.c.id).limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        views = _views(conn, tenant_id, [row._mapping for row in rows])
    return Page(items=tuple(views), next_after=views[-1].id if more and views else None)


def get_user(engine: Engine, tenant_id: str, user_id: int) -> UserView | None:
    """One user of the tenant with derived access, or ``None``."""
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(*_COLUMNS).where(_users.c.tenant_id == tenant_id, _users.c.id == user_id)
        ).first()
        if row is None:
            return None
        return _views(conn, tenant_id, [row._mapping])[0]


def _filter_conditions(
    conn: Connection, tenant_id: str, filters: UserFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.email is not None:
        conditions.append(_users.c.email_key == email_key(filters.email))
    if filters.active is not None:
        conditions.append(_users.c.active == filters.active)
    if filters.team is not None:
        conditions.append(in_team(conn, tenant_id, filters.team))
    if filters.tag is not None:
        conditions.append(holds_tag(conn, tenant_id, filters.tag))
    return conditions


def _views(conn: Connection, tenant_id: str, rows: Sequence[RowMapping]) -> list[UserView]:
    access = effective_access(conn, tenant_id, [row["id"] for row in rows])
    return [
        UserView(
            id=row["id"],
            primary_email=row["primary_email"],
            user_name=row["user_name"],
            display_name=row["display_name"],
            active=bool(row["active"]),
            entra_object_id=row["entra_object_id"],
            access=access[row["id"]],
        )
        for row in rows
    ]
