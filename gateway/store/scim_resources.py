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

import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Engine,
    select,
)

from gateway.store.engine import begin_write_now, read_transaction
from gateway.store.queries import chunks, table
from gateway.store.tables import utcnow

if TYPE_CHECKING:
    import sqlite3

scim_users = table("scim_users")
scim_groups = table("scim_groups")
scim_members = table("scim_group_members")
scim_changes = table("scim_changes")


class Kind(StrEnum):
    USER = "user"
    GROUP = "group"


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
    """A filter as SQL in the driver's parameter style (see ``scim.filter_sql``)."""

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
    pooled = engine.raw_connection()
    try:
        cursor = pooled.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        pooled.close()


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
# Writes run on the driver's cursor too: Entra creates and patches users one
# request at a time, and SQLAlchemy's statement building would cost more than
# the statements.


class _Tx:
    """One write transaction on a driver cursor; SQL uses ``:name`` parameters."""

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self.cursor = cursor
        self.postgres = postgres

    def sql(self, text: str) -> str:
        if not self.postgres:
            return text
        converted = _PG_SQL.get(text)
        if converted is None:
            converted = _PG_SQL[text] = _PARAM.sub(r"%(\1)s", text)
        return converted

    def execute(self, text: str, params: dict[str, Any] | None = None) -> Any:
        self.cursor.execute(self.sql(text), params or {})
        return self.cursor

    def executemany(self, text: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql(text), rows)

    def moment(self, value: datetime) -> Any:
        """A timestamp as the store keeps it (SQLAlchemy's SQLite text format)."""
        return value if self.postgres else value.strftime("%Y-%m-%d %H:%M:%S.%f")


_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_PG_SQL: dict[str, str] = {}


@contextmanager
def _write(engine: Engine, *, wait: bool) -> Iterator[_Tx]:
    postgres = engine.dialect.name == "postgresql"
    driver = engine.raw_connection()
    try:
        cursor = driver.cursor()
        try:
            if not postgres:
                # Take the write lock up front, as write_transaction does, or
                # give way at once, as write_transaction_now does.
                if wait:
                    cursor.execute("BEGIN IMMEDIATE")
                else:
                    begin_write_now(cast("sqlite3.Connection", driver.driver_connection))
            try:
                yield _Tx(cursor, postgres)
            except BaseException:
                if postgres:
                    driver.rollback()
                else:
                    cursor.execute("ROLLBACK")
                raise
            if postgres:
                driver.commit()
            else:
                cursor.execute("COMMIT")
        finally:
            cursor.close()
    finally:
        driver.close()


def _is_unique_violation(engine: Engine, exc: Exception) -> bool:
    integrity = getattr(engine.dialect.dbapi, "IntegrityError", ())
    text = str(exc).lower()
    return isinstance(exc, integrity) and ("unique" in text or "duplicate key" in text)


def create_resource(
    engine: Engine,
    tenant_id: str,
    fields: Fields,
    *,
    members: Sequence[str] = (),
    resource_id: str | None = None,
    wait: bool = True,
) -> Stored:
    """Insert a user or group (with its members); raises :class:`UniquenessConflict`
    or :class:`UnknownMembers` and then writes nothing.

    With ``wait=False`` (a caller on the event loop) a SQLite write lock held
    elsewhere raises :class:`~gateway.store.engine.WriteLockBusy` at once, with
    nothing done; the same holds for :func:`update_resource` and
    :func:`delete_resource`."""
    kind = Kind.USER if isinstance(fields, UserFields) else Kind.GROUP
    now = utcnow()
    new = resource_id or new_id()
    columns = fields.columns()
    names = ["id", "tenant_id", "version", "created_at", "updated_at", *columns]
    sql = (
        f"INSERT INTO {_TABLES[kind]} ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + n for n in names)}) RETURNING seq"
    )
    try:
        with _write(engine, wait=wait) as tx:
            stamp = tx.moment(now)
            values = {
                "id": new,
                "tenant_id": tenant_id,
                "version": 1,
                "created_at": stamp,
                "updated_at": stamp,
                **columns,
            }
            seq = tx.execute(sql, values).fetchone()[0]
            _log(tx, tenant_id, kind, new)
            if kind is Kind.GROUP and members:
                _change_members(tx, tenant_id, seq, new, MemberChange(added=members))
    except Exception as exc:
        if _is_unique_violation(engine, exc):
            raise UniquenessConflict(_unique_name(fields)) from None
        raise
    return Stored(seq, new, fields.resource, 1, now, now)


def update_resource(
    engine: Engine,
    tenant_id: str,
    kind: Kind,
    resource_id: str,
    build: Callable[[Stored], tuple[Fields | None, MemberChange]],
    *,
    if_match: int | None = None,
    wait: bool = True,
) -> Stored:
    """Read a resource under a write lock, let ``build`` compute the new state
    (``None`` for no attribute change) and member changes, and store them as
    the next version; all of it or nothing."""
    fields: Fields | None = None
    try:
        with _write(engine, wait=wait) as tx:
            current = _locked(tx, tenant_id, kind, resource_id)
            if if_match is not None and if_match != current.version:
                raise VersionMismatch(resource_id)
            fields, members = build(current)
            if fields is None and members.empty:
                return current
            now = utcnow()
            values: dict[str, Any] = {
                "version": current.version + 1,
                "updated_at": tx.moment(now),
            }
            if fields is not None:
                values.update(fields.columns())
            assignments = ", ".join(f"{name} = :{name}" for name in values)
            tx.execute(
                f"UPDATE {_TABLES[kind]} SET {assignments} WHERE seq = :seq",
                {**values, "seq": current.seq},
            )
            if fields is not None:
                _log(tx, tenant_id, kind, resource_id)
            if not members.empty:
                _change_members(tx, tenant_id, current.seq, resource_id, members)
    except Exception as exc:
        if fields is not None and _is_unique_violation(engine, exc):
            raise UniquenessConflict(_unique_name(fields)) from None
        raise
    resource = fields.resource if fields is not None else current.resource
    return Stored(current.seq, resource_id, resource, current.version + 1, current.created_at, now)


def delete_resource(
    engine: Engine,
    tenant_id: str,
    kind: Kind,
    resource_id: str,
    *,
    if_match: int | None = None,
    wait: bool = True,
) -> None:
    """Delete a resource (its memberships go with it); the identity applier then
    deactivates the user or drops the group's tag and memberships."""
    member_column = "user_seq" if kind is Kind.USER else "group_seq"
    with _write(engine, wait=wait) as tx:
        current = _locked(tx, tenant_id, kind, resource_id)
        if if_match is not None and if_match != current.version:
            raise VersionMismatch(resource_id)
        tx.execute(
            f"DELETE FROM scim_group_members WHERE {member_column} = :seq", {"seq": current.seq}
        )
        tx.execute(f"DELETE FROM {_TABLES[kind]} WHERE seq = :seq", {"seq": current.seq})
        _log(tx, tenant_id, kind, resource_id)


def _locked(tx: _Tx, tenant_id: str, kind: Kind, resource_id: str) -> Stored:
    # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL locks the row.
    lock = " FOR UPDATE" if tx.postgres else ""
    row = tx.execute(
        f"SELECT {_SELECTED} FROM {_TABLES[kind]} WHERE tenant_id = :t AND id = :id{lock}",
        {"t": tenant_id, "id": resource_id},
    ).fetchone()
    if row is None:
        raise ResourceNotFound(resource_id)
    return _stored_raw(row)


def _unique_name(fields: Fields) -> str:
    return fields.user_name if isinstance(fields, UserFields) else fields.display_name


_INSERT_LOG = (
    "INSERT INTO scim_changes (tenant_id, kind, resource_id, member_id) "
    "VALUES (:tenant_id, :kind, :resource_id, :member_id)"
)


def _log(tx: _Tx, tenant_id: str, kind: Kind, resource_id: str) -> None:
    tx.execute(
        _INSERT_LOG,
        {"tenant_id": tenant_id, "kind": str(kind), "resource_id": resource_id, "member_id": None},
    )


def _id_list(tx: _Tx) -> str:
    """A subquery of the ids bound as the one parameter ``:ids`` (see
    :func:`_ids_value`): a thousand members cost one bound value, not a
    thousand named parameters, which SQLite binds one by one."""
    if tx.postgres:
        return "(SELECT unnest(CAST(:ids AS text[])) AS value)"
    return "(SELECT value FROM json_each(:ids))"


def _ids_value(tx: _Tx, ids: list[str]) -> Any:
    return ids if tx.postgres else json.dumps(ids)


def _users_named(tx: _Tx) -> str:
    """``FROM`` the tenant's users whose ids are in ``:ids``, found by the id
    index: without statistics SQLite would rather read all of the tenant's
    users through the tenant index and test each against the list."""
    index = "" if tx.postgres else " INDEXED BY ux_scim_users_id"
    return f"FROM scim_users{index} WHERE id IN {_id_list(tx)} AND tenant_id = :t"


def _change_members(
    tx: _Tx, tenant_id: str, group_seq: int, group_id: str, change: MemberChange
) -> None:
    """Apply member changes; adding a member that is there or removing one that
    is gone changes nothing (Entra retries and repeats). Each kind of change is
    one set-based statement for the rows and one for their change log."""
    added = list(dict.fromkeys(change.added))
    removed = list(dict.fromkeys(change.removed))
    if change.replaced is not None:
        wanted = list(dict.fromkeys(change.replaced))
        _require_known(tx, tenant_id, wanted)
        current = {
            user_id
            for (user_id,) in tx.execute(
                "SELECT u.id FROM scim_users u JOIN scim_group_members m "
                "ON m.user_seq = u.seq WHERE m.group_seq = :g",
                {"g": group_seq},
            ).fetchall()
        }
        kept = set(wanted)
        added = [user_id for user_id in wanted if user_id not in current]
        removed = [user_id for user_id in current if user_id not in kept]
    ids = _id_list(tx)
    users = _users_named(tx)
    if added:
        _require_known(tx, tenant_id, added)
        params = {"t": tenant_id, "g": group_seq, "gid": group_id, "ids": _ids_value(tx, added)}
        # The WHERE clause keeps SQLite's parser from reading ON CONFLICT as a join's ON.
        tx.execute(
            "INSERT INTO scim_group_members (group_seq, user_seq, tenant_id) "
            f"SELECT :g, seq, tenant_id {users} ON CONFLICT DO NOTHING",
            params,
        )
        tx.execute(
            "INSERT INTO scim_changes (tenant_id, kind, resource_id, member_id) "
            f"SELECT :t, 'member+', :gid, value FROM {ids} AS added",
            params,
        )
    if removed:
        params = {"t": tenant_id, "g": group_seq, "gid": group_id, "ids": _ids_value(tx, removed)}
        tx.execute(
            "DELETE FROM scim_group_members "
            f"WHERE group_seq = :g AND user_seq IN (SELECT seq {users})",
            params,
        )
        # Ids that name no user are not logged: there is no membership to remove.
        tx.execute(
            "INSERT INTO scim_changes (tenant_id, kind, resource_id, member_id) "
            f"SELECT tenant_id, 'member-', :gid, id {users}",
            params,
        )


def _require_known(tx: _Tx, tenant_id: str, ids: list[str]) -> None:
    """Raise :class:`UnknownMembers` unless every one of ``ids`` (distinct) is a user."""
    params = {"t": tenant_id, "ids": _ids_value(tx, ids)}
    users = _users_named(tx)
    (found,) = tx.execute(f"SELECT COUNT(*) {users}", params).fetchone()
    if found == len(ids):
        return
    known = {user_id for (user_id,) in tx.execute(f"SELECT id {users}", params).fetchall()}
    raise UnknownMembers([user_id for user_id in ids if user_id not in known])
