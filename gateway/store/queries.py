"""Small building blocks shared by the store's repository modules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import metadata

T = TypeVar("T")

# Keeps IN lists well under every driver's bound-parameter limit.
IN_CHUNK = 500


def table(name: str) -> Table:
    """A store table by name, typed for SQLAlchemy Core."""
    return metadata.tables[name]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paged listing; ``next_after`` is the key to continue after."""

    items: tuple[T, ...]
    next_after: int | None


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_ignoring_duplicates(
    conn: Connection, target: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows``, skipping those whose key already exists.

    ``ON CONFLICT DO NOTHING`` keeps concurrent idempotent writes from failing
    on PostgreSQL, where two requests can race past a read-then-insert.
    """
    if not rows:
        return
    conn.execute(_insert_ignore(conn, target), list(rows))


def insert_if_absent(conn: Connection, target: Table, row: Mapping[str, Any]) -> bool:
    """Insert one row unless its key exists; whether it was inserted."""
    # rowcount is not reliable here across drivers; RETURNING yields a row only
    # when one was inserted.
    stmt = _insert_ignore(conn, target).returning(*target.primary_key.columns)
    return conn.execute(stmt, dict(row)).first() is not None


def _insert_ignore(conn: Connection, target: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing()
    raise RuntimeError(f"unsupported database dialect {dialect!r}")  # pragma: no cover


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether an integrity error is a duplicate key (not, say, a missing parent row)."""
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text
