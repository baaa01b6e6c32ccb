"""Database engines for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

# How long a SQLite writer waits for the write lock before giving up.
BUSY_TIMEOUT_MS = 30_000


class WriteLockBusy(Exception):
    """The SQLite write lock is held elsewhere right now; nothing was done."""


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = make_url(database_url)
    # Database errors then never carry bound values (ciphertexts, token hashes)
    # into logs or exception messages.
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # Writers take the lock up front (IMMEDIATE), so two writers queue on the
    # busy timeout instead of failing when one upgrades a read transaction;
    # readers stay DEFERRED and run beside a writer under WAL.
    options = connection.get_execution_options()
    if options.get("gateway_write_now"):
        begin_write_now(connection.connection.driver_connection)
    elif options.get("gateway_write"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def begin_write_now(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` on a SQLite driver connection without a busy wait;
    raises :class:`WriteLockBusy` (having begun nothing) when the write lock is
    held elsewhere. A caller on the event loop must not sleep in SQLite's busy
    handler while another transaction (an identity apply) holds the lock."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WriteLockBusy from None
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed on success."""
    with (
        engine.connect().execution_options(gateway_write=True) as connection,
        connection.begin(),
    ):
        yield connection


@contextmanager
def write_transaction_now(engine: Engine) -> Iterator[Connection]:
    """A SQLite write transaction, begun only if the write lock is free at once;
    raises :class:`WriteLockBusy` (having done nothing) otherwise."""
    with (
        engine.connect().execution_options(gateway_write_now=True) as connection,
        connection.begin(),
    ):
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a read transaction (one consistent snapshot)."""
    with engine.connect() as connection, connection.begin():
        yield connection
