"""The least time SQLite needs to write the rows of a first sync, whatever the code.

Copies the rows a finished first sync wrote for one tenant (users, their source
links, team memberships, group memberships, and the audit entries the identity
rules keep for every change) into a fresh database with the same schema, and
times writing them there in one durable transaction. The copy runs inside
SQLite, table by table from the first database attached beside it: no Python
per row, no identity rules, no staging, nothing decided. It reports the time
with and without the audit entries.

SQLite has one writer, so no design of the sync can write those rows faster on
this machine; a full sync costs at least this on top of whatever part of the
read it cannot overlap. Used by ``bench.graph_sync``, which runs it in a
process of its own so that it does not count in the sync's peak memory.

    .venv/bin/python -m bench.write_floor SQLITE_URL TENANT_ID
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade_schema

# Rows the sync needs before it writes users (copied, not timed), then the rows
# of the sync itself (timed), each in an order that satisfies the foreign keys.
_CONTEXT = ("tenants", "teams", "tags", "groups")
_WRITTEN = ("users", "user_sources", "team_memberships", "group_memberships", "audit_log")


def measure_write_floor(source_url: str, tenant_id: str, tmp: Path) -> dict[str, Any]:
    """Seconds to write the tenant's rows into a fresh SQLite database."""
    target_path = tmp / "write-floor.db"
    engine = make_engine(f"sqlite:///{target_path}")
    upgrade_schema(engine)
    engine.dispose()
    db = sqlite3.connect(target_path, isolation_level=None)
    try:
        # The service's settings (see gateway.store.engine): durable WAL writes.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("PRAGMA cache_size=-32768")
        db.execute("ATTACH DATABASE ? AS src", (make_url(source_url).database,))
        db.execute("BEGIN IMMEDIATE")
        for table in _CONTEXT:
            _copy(db, table, tenant_id)
        db.execute("COMMIT")
        rows = {table: _count(db, table, tenant_id) for table in _WRITTEN}
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        for table in _WRITTEN:
            mark = time.perf_counter()
            _copy(db, table, tenant_id)
            seconds[table] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        db.execute("COMMIT")
        seconds["commit"] = round(time.perf_counter() - mark, 3)
        total = time.perf_counter() - started
    finally:
        db.close()
    return {
        "seconds": round(total, 3),
        "without_audit_seconds": round(total - seconds["audit_log"], 3),
        "rows": rows,
        "by_table": seconds,
    }


def _key(table: str) -> str:
    return "id" if table == "tenants" else "tenant_id"


def _copy(db: sqlite3.Connection, table: str, tenant_id: str) -> None:
    db.execute(
        f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE {_key(table)} = ?",
        (tenant_id,),
    )


def _count(db: sqlite3.Connection, table: str, tenant_id: str) -> int:
    row = db.execute(
        f"SELECT COUNT(*) FROM src.{table} WHERE {_key(table)} = ?", (tenant_id,)
    ).fetchone()
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="the SQLite database a first sync wrote")
    parser.add_argument("tenant_id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        print(json.dumps(measure_write_floor(args.database_url, args.tenant_id, Path(tmp))))


if __name__ == "__main__":
    main()
