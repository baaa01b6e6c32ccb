"""The least time SQLite needs to write the rows of a first sync, whatever the code.

Copies the identity rows a finished first sync wrote for one tenant (users,
their source links, team memberships, group memberships) into a fresh database
with the same schema, and times writing them there in one durable transaction,
set-based from JSON (no per-row Python, no identity rules, no staging, no audit
rows). SQLite has one writer, so no design of the sync can write those rows
faster on this machine; a full sync costs at least this on top of whatever part
of the read it cannot overlap.

Used by ``bench.graph_sync``, which runs it in a process of its own so that
its copies of the rows do not count in the sync's peak memory; only SQLite
(PostgreSQL has no such single writer).

    .venv/bin/python -m bench.write_floor SQLITE_URL TENANT_ID
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade_schema

# Rows the sync needs before it writes users (copied, not timed), then the rows
# of the sync itself (timed), each in an order that satisfies the foreign keys.
_CONTEXT = ("tenants", "teams", "tags", "groups")
_WRITTEN = ("users", "user_sources", "team_memberships", "group_memberships")


def measure_write_floor(source: Engine, tenant_id: str, tmp: Path) -> dict[str, Any]:
    """Seconds to write the tenant's identity rows into a fresh SQLite database."""
    target = make_engine(f"sqlite:///{tmp / 'write-floor.db'}")
    try:
        upgrade_schema(target)
        with source.connect() as read:
            context = {table: _rows(read, table, tenant_id) for table in _CONTEXT}
            written = {table: _rows(read, table, tenant_id) for table in _WRITTEN}
        with target.begin() as conn:
            for table, (columns, blob, _) in context.items():
                _insert(conn, table, columns, blob)
        seconds: dict[str, float] = {}
        raw = target.raw_connection()
        try:
            cursor = raw.cursor()
            started = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            for table, (columns, blob, _) in written.items():
                mark = time.perf_counter()
                cursor.execute(_insert_sql(table, columns), (blob,))
                seconds[table] = round(time.perf_counter() - mark, 3)
            mark = time.perf_counter()
            cursor.execute("COMMIT")
            seconds["commit"] = round(time.perf_counter() - mark, 3)
            total = time.perf_counter() - started
        finally:
            raw.close()
        return {
            "seconds": round(total, 3),
            "rows": {table: count for table, (_, _, count) in written.items()},
            "by_table": seconds,
        }
    finally:
        target.dispose()


def _rows(conn: Connection, table: str, tenant_id: str) -> tuple[list[str], str, int]:
    columns = [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")]
    key = "id" if table == "tenants" else "tenant_id"
    rows = conn.exec_driver_sql(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?", (tenant_id,)
    ).all()
    return columns, json.dumps([list(row) for row in rows], default=str), len(rows)


def _insert_sql(table: str, columns: list[str]) -> str:
    values = ", ".join(f"value ->> {i}" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM json_each(?)"


def _insert(conn: Connection, table: str, columns: list[str], blob: str) -> None:
    conn.exec_driver_sql(_insert_sql(table, columns), (blob,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="the SQLite database a first sync wrote")
    parser.add_argument("tenant_id")
    args = parser.parse_args()
    source = make_engine(args.database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
            print(json.dumps(measure_write_floor(source, args.tenant_id, Path(tmp))))
    finally:
        source.dispose()


if __name__ == "__main__":
    main()
