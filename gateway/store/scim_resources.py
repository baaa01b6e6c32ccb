"""SCIM resources (users and groups) as Entra pushed them, one tenant at a time.

Each write runs in one transaction that also appends to ``scim_changes``, the
log the identity applier (:mod:`gateway.store.scim_identity`) drains into the
apply engine; so a resource and the identity change it implies commit or roll
back together. Resources are kept as JSON text (without ``id``, ``meta``,
``members``) next to the columns that uniqueness, paging and the most common
filters need; group members live in their own table, so concurrent member
changes never rewrite a list and none is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import chunks, insert_ignoring_duplicates, is_unique_violation, table
from gateway.store.tables import utcnow

scim_users = table("scim_users")
scim_groups = table("scim_groups")
scim_members = table("scim_group_members")
scim_changes = table("scim_changes")


class Kind(StrEnum):
    USER = "user"
    GROUP = "group"


def resource_table(kind: Kind) -> Table:
    return scim_users if kind is Kind.USER else scim_groups


class ResourceNotFound(LookupError):
    """No resource with that id in the tenant (another tenant's is not found either)."""


class UniquenessConflict(ValueError):
    """Another resource of the tenant already has this ``userName`` / ``displayName``."""


class VersionMismatch(ValueError):
    """``If-Match`` named another version than the stored one."""


class UnknownMembers(ValueError):
    """Members that name no user of the tenant."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = tuple(ids)


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored resource; ``resource`` is its JSON text without id and meta."""

    seq: int
    id: str
    resource: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserFields:
    user_name: str
    external_id: str | None
    display_name: str | None
    active: bool
    resource: str

    def columns(self) -> dict[str, Any]:
        return {
            "user_name": self.user_name,
            "user_name_key": self.user_name.strip().lower(),
            "external_id": self.external_id,
            "display_name": self.display_name,
            "active": self.active,
            "resource": self.resource,
        }


@dataclass(frozen=True, slots=True)
class GroupFields:
    display_name: str
    external_id: str | None
    resource: str

    def columns(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "display_name_key": self.display_name.strip().lower(),
            "external_id": self.external_id,
            "resource": self.resource,
        }


@dataclass(frozen=True, slots=True)
class MemberChange:
    """Member ids to add and remove, or the whole new list in ``replaced``."""

    added: Sequence[str] = ()
    removed: Sequence[str] = ()
    replaced: Sequence[str] | None = None

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed and self.replaced is None


Fields = UserFields | GroupFields

_STORED_COLUMNS = ("seq", "id", "resource", "version", "created_at", "updated_at")


def _stored(row: Row[Any]) -> Stored:
    m = row._mapping
    return Stored(m["seq"], m["id"], m["resource"], m["version"], m["created_at"], m["updated_at"])


def _columns(target: Table) -> list[Any]:
    return [target.c[name] for name in _STORED_COLUMNS]


# Built once: constructing a statement costs more than running it.
_INSERT_RETURNING = {
    Kind.USER: insert(scim_users).returning(scim_users.c.seq),
    Kind.GROUP: insert(scim_groups).returning(scim_groups.c.seq),
}
_INSERT_CHANGE = insert(scim_changes)


def new_id() -> str:
    return str(uuid.uuid4())


# -- reads ---------------------------------------------------------------------


def get_resource(engine: Engine, tenant_id: str, kind: Kind, resource_id: str) -> Stored | None:
    """One resource of the tenant, or ``None``."""
    postgres = engine.dialect.name == "postgresql"
    sql = (
        f"SELECT {_SELECTED} FROM {_TABLES[kind]} "
        f"WHERE tenant_id = {placeholder(postgres, 't')} AND id = {placeholder(postgres, 'id')}"
    )
    with _cursor(engine) as cursor:
        cursor.execute(sql, {"t": tenant_id, "id": resource_id})
        row = cursor.fetchone()
    return None if row is None else _stored_raw(row)


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    items: tuple[Stored, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """A filter as SQL in the driver's parameter style (see ``scim_filter_sql``)."""

    sql: str
    params: dict[str, Any]


def search_resources(
    engine: Engine,
    tenant_id: str,
    kind: Kind,
    *,
    condition: Condition | None,
    order_by: Sequence[str] = (),
    offset: int = 0,
    limit: int = 100,
) -> SearchResult:
    """The tenant's resources matching ``condition``, in ``order_by`` (SQL
    expressions with ASC/DESC) then creation order, one page; with the total count.

    The hot read of Entra's lookups, so it runs on the driver's cursor: building
    SQLAlchemy statements would cost more than the query.
    """
    postgres = engine.dialect.name == "postgresql"
    table_name = _TABLES[kind]
    where = f"{table_name}.tenant_id = {placeholder(postgres, 't')}"
    params: dict[str, Any] = {"t": tenant_id}
    if condition is not None:
        where += f" AND ({condition.sql})"
        params.update(condition.params)
    order = ", ".join([*order_by, f"{table_name}.seq"])
    page_sql = (
        f"SELECT {_SELECTED} FROM {table_name} WHERE {where} ORDER BY {order} "
        f"LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    with _cursor(engine) as cursor:
        snapshot = not postgres
        if snapshot:
            cursor.execute("BEGIN")
        try:
            items: tuple[Stored, ...] = ()
            if limit > 0:
                cursor.execute(page_sql, params)
                items = tuple(_stored_raw(row) for row in cursor.fetchall())
            if (items and len(items) < limit) or (not items and offset == 0 and limit > 0):
                # The page holds the last match: the total follows without counting.
                total = offset + len(items)
            else:
                cursor.execute(f"SELECT COUNT(*) FROM {table_name} WHERE {where}", params)
                total = cursor.fetchone()[0]
        finally:
            if snapshot:
                cursor.execute("COMMIT")
    return SearchResult(total=int(total), items=items)


_TABLES = {Kind.USER: "scim_users", Kind.GROUP: "scim_groups"}
_SELECTED = ", ".join(_STORED_COLUMNS)


def placeholder(postgres: bool, name: str) -> str:
    """A named parameter in the driver's own style (psycopg: pyformat; sqlite3: named)."""
    return f"%({name})s" if postgres else f":{name}"


@contextmanager
def _cursor(engine: Engine) -> Iterator[Any]:
    """A driver cursor on a pooled connection (PostgreSQL: its own transaction,
    rolled back when the pool takes the connection back)."""
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cursor
        finally:
            cursor.close()


def _moment(value: Any) -> datetime:
    """A timestamp as the driver returns it, timezone-aware (SQLite keeps text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _stored_raw(row: Sequence[Any]) -> Stored:
    seq, resource_id, resource, version, created, updated = row
    return Stored(seq, resource_id, resource, version, _moment(created), _moment(updated))


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    display: str | None


def group_members(
    engine: Engine, tenant_id: str, group_seqs: Sequence[int]
) -> dict[int, list[Member]]:
    """Members of each group (by ``seq``), in the order they were added."""
    found: dict[int, list[Member]] = {seq: [] for seq in group_seqs}
    if not group_seqs:
        return found
    with read_transaction(engine) as conn:
        for part in chunks(list(group_seqs)):
            rows = conn.execute(
                select(scim_members.c.group_seq, scim_users.c.id, scim_users.c.display_name)
                .join(scim_users, scim_users.c.seq == scim_members.c.user_seq)
                .where(scim_members.c.tenant_id == tenant_id, scim_members.c.group_seq.in_(part))
                .order_by(scim_members.c.group_seq, scim_members.c.user_seq)
            )
            for group_seq, user_id, display in rows:
                found[group_seq].append(Member(user_id, display))
    return found


def user_groups(
    engine: Engine, tenant_id: str, user_seqs: Sequence[int]
) -> dict[int, list[Member]]:
    """The groups each user (by ``seq``) is a direct member of."""
    found: dict[int, list[Member]] = {seq: [] for seq in user_seqs}
    if not user_seqs:
        return found
    with read_transaction(engine) as conn:
        for part in chunks(list(user_seqs)):
            rows = conn.execute(
                select(scim_members.c.user_seq, scim_groups.c.id, scim_groups.c.display_name)
                .join(scim_groups, scim_groups.c.seq == scim_members.c.group_seq)
                .where(scim_members.c.tenant_id == tenant_id, scim_members.c.user_seq.in_(part))
                .order_by(scim_members.c.user_seq, scim_groups.c.seq)
            )
            for user_seq, group_id, display in rows:
                found[user_seq].append(Member(group_id, display))
    return found


# -- writes --------------------------------------------------------------------


def create_resource(
    engine: Engine,
    tenant_id: str,
    fields: Fields,
    *,
    members: Sequence[str] = (),
    resource_id: str | None = None,
) -> Stored:
    """Insert a user or group (with its members); raises :class:`UniquenessConflict`
    or :class:`UnknownMembers` and then writes nothing."""
    kind = Kind.USER if isinstance(fields, UserFields) else Kind.GROUP
    now = utcnow()
    values = {
        "id": resource_id or new_id(),
        "tenant_id": tenant_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **fields.columns(),
    }
    with write_transaction(engine) as conn:
        try:
            seq = conn.execute(_INSERT_RETURNING[kind], values).scalar_one()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise UniquenessConflict(_unique_name(fields)) from exc
            raise
        _log(conn, tenant_id, kind, values["id"])
        if kind is Kind.GROUP and members:
            _change_members(conn, tenant_id, seq, values["id"], MemberChange(added=members))
    return Stored(seq, values["id"], fields.resource, 1, now, now)


def update_resource(
    engine: Engine,
    tenant_id: str,
    kind: Kind,
    resource_id: str,
    build: Callable[[Stored], tuple[Fields | None, MemberChange]],
    *,
    if_match: int | None = None,
) -> Stored:
    """Read a resource under a write lock, let ``build`` compute the new state
    (``None`` for no attribute change) and member changes, and store them as
    the next version; all of it or nothing."""
    target = resource_table(kind)
    with write_transaction(engine) as conn:
        current = _locked(conn, tenant_id, target, resource_id)
        if if_match is not None and if_match != current.version:
            raise VersionMismatch(resource_id)
        fields, members = build(current)
        if fields is None and members.empty:
            return current
        now = utcnow()
        values: dict[str, Any] = {"version": current.version + 1, "updated_at": now}
        if fields is not None:
            values.update(fields.columns())
        try:
            conn.execute(update(target).where(target.c.seq == current.seq).values(values))
        except IntegrityError as exc:
            if fields is not None and is_unique_violation(exc):
                raise UniquenessConflict(_unique_name(fields)) from exc
            raise
        if fields is not None:
            _log(conn, tenant_id, kind, resource_id)
        if not members.empty:
            _change_members(conn, tenant_id, current.seq, resource_id, members)
        resource = fields.resource if fields is not None else current.resource
        return Stored(
            current.seq, resource_id, resource, current.version + 1, current.created_at, now
        )


def delete_resource(
    engine: Engine, tenant_id: str, kind: Kind, resource_id: str, *, if_match: int | None = None
) -> None:
    """Delete a resource (its memberships go with it); the identity applier then
    deactivates the user or drops the group's tag and memberships."""
    target = resource_table(kind)
    with write_transaction(engine) as conn:
        current = _locked(conn, tenant_id, target, resource_id)
        if if_match is not None and if_match != current.version:
            raise VersionMismatch(resource_id)
        conn.execute(delete(scim_members).where(_member_column(kind) == current.seq))
        conn.execute(delete(target).where(target.c.seq == current.seq))
        _log(conn, tenant_id, kind, resource_id)


def _member_column(kind: Kind) -> Any:
    return scim_members.c.user_seq if kind is Kind.USER else scim_members.c.group_seq


def _locked(conn: Connection, tenant_id: str, target: Table, resource_id: str) -> Stored:
    stmt = select(*_columns(target)).where(
        target.c.tenant_id == tenant_id, target.c.id == resource_id
    )
    if conn.dialect.name == "postgresql":
        # SQLite's BEGIN IMMEDIATE already serialises writers.
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise ResourceNotFound(resource_id)
    return _stored(row)


def _unique_name(fields: Fields) -> str:
    return fields.user_name if isinstance(fields, UserFields) else fields.display_name


def _log(conn: Connection, tenant_id: str, kind: Kind, resource_id: str) -> None:
    conn.execute(
        _INSERT_CHANGE,
        {"tenant_id": tenant_id, "kind": str(kind), "resource_id": resource_id, "member_id": None},
    )


def _user_seqs(conn: Connection, tenant_id: str, ids: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(ids))
    found: dict[str, int] = {}
    for part in chunks(wanted):
        rows = conn.execute(
            select(scim_users.c.id, scim_users.c.seq).where(
                scim_users.c.tenant_id == tenant_id, scim_users.c.id.in_(part)
            )
        )
        found.update({user_id: seq for user_id, seq in rows})
    return found


def _change_members(
    conn: Connection, tenant_id: str, group_seq: int, group_id: str, change: MemberChange
) -> None:
    """Apply member changes; adding a member that is there or removing one that
    is gone changes nothing (Entra retries and repeats)."""
    added = list(change.added)
    removed = list(change.removed)
    if change.replaced is not None:
        wanted = _user_seqs(conn, tenant_id, change.replaced)
        _require_known(change.replaced, wanted)
        current = dict(
            conn.execute(
                select(scim_users.c.id, scim_users.c.seq)
                .join(scim_members, scim_members.c.user_seq == scim_users.c.seq)
                .where(scim_members.c.group_seq == group_seq)
            ).all()
        )
        added = [user_id for user_id in wanted if user_id not in current]
        removed = [user_id for user_id in current if user_id not in wanted]
    seqs = _user_seqs(conn, tenant_id, [*added, *removed])
    _require_known(added, seqs)
    rows = [{"group_seq": group_seq, "user_seq": seqs[u], "tenant_id": tenant_id} for u in added]
    insert_ignoring_duplicates(conn, scim_members, rows)
    gone = [seqs[u] for u in removed if u in seqs]
    for part in chunks(gone):
        conn.execute(
            delete(scim_members).where(
                scim_members.c.group_seq == group_seq, scim_members.c.user_seq.in_(part)
            )
        )
    log = [
        *({"member_id": u, "kind": "member+"} for u in dict.fromkeys(added)),
        *({"member_id": u, "kind": "member-"} for u in dict.fromkeys(removed) if u in seqs),
    ]
    if log:
        conn.execute(
            _INSERT_CHANGE,
            [{**entry, "tenant_id": tenant_id, "resource_id": group_id} for entry in log],
        )


def _require_known(ids: Iterable[str], known: dict[str, int]) -> None:
    missing = [user_id for user_id in dict.fromkeys(ids) if user_id not in known]
    if missing:
        raise UnknownMembers(missing)
