"""SQL helpers shared by the apply steps: typed binds, JSON built in SQL, audit rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, Connection, String, TextClause, bindparam, text

from gateway.identity.model import SyncWarning
from gateway.store.apply.results import ApplyOptions
from gateway.store.tables import UtcDateTime

if TYPE_CHECKING:
    from gateway.store.apply.batch import SyncBatch

# Staged rows from which a batch counts as bulk (see ``_is_bulk``).
BULK_ROWS = 10_000

_PARAM_TYPES: dict[str, Any] = {
    "t": String(),
    "s": String(),
    "actor": String(),
    "now": UtcDateTime(),
    "run_id": BigInteger(),
    "team": BigInteger(),
    "complete": Boolean(),
}


class SqlSteps:
    """State and helpers of one apply; the step mixins build on it."""

    conn: Connection
    batch: SyncBatch
    options: ApplyOptions
    dialect: str
    counts: dict[str, int]
    warnings: list[SyncWarning]
    params: dict[str, Any]

    def _sql(self, sql: str) -> TextClause:
        # Typed binds let PostgreSQL infer parameters used in SELECT lists.
        clause = text(sql)
        typed = [
            bindparam(name, type_=type_)
            for name, type_ in _PARAM_TYPES.items()
            if re.search(rf":{name}\b", sql)
        ]
        if re.search(r":ids\b", sql):
            typed.append(bindparam("ids", expanding=True))
        return clause.bindparams(*typed) if typed else clause

    def _run(self, sql: str, **extra: Any) -> int:
        result = self.conn.execute(self._sql(sql), {**self.params, **extra})
        return max(result.rowcount, 0)

    def _scalar(self, sql: str, **extra: Any) -> int:
        value = self.conn.execute(self._sql(sql), {**self.params, **extra}).scalar()
        return int(value or 0)

    def _rows(self, sql: str, **extra: Any) -> Iterator[Any]:
        return iter(self.conn.execute(self._sql(sql), {**self.params, **extra}).all())

    def _count(self, key: str, value: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + value

    def _json(self, **fields: str) -> str:
        """A JSON object built in SQL from column expressions."""
        function = "json_object" if self.dialect == "sqlite" else "json_build_object"
        args = ", ".join(f"'{key}', {expr}" for key, expr in fields.items())
        return f"{function}({args})"

    def _bool(self, expr: str) -> str:
        """A boolean expression as a JSON boolean (SQLite would give 0/1)."""
        if self.dialect == "sqlite":
            return f"json(CASE WHEN {expr} THEN 'true' ELSE 'false' END)"
        return expr

    def _audit(
        self,
        action: str,
        subject_type: str,
        subject_id: str,
        from_where: str,
        *,
        before: str = "NULL",
        after: str = "NULL",
        **extra: Any,
    ) -> int:
        """Write one audit entry per row of ``from_where``; returns how many.

        Rows go in subject order, so the subject index grows at its end rather
        than at random places (a third of the cost of a 100k-user import).
        """
        written = self._run(
            f"""
            INSERT INTO audit_log
                (tenant_id, at, actor, action, subject_type, subject_id, run_id, before, after)
            SELECT CAST(:t AS VARCHAR(32)), :now, CAST(:actor AS VARCHAR(64)),
                   '{action}', '{subject_type}', CAST({subject_id} AS VARCHAR(64)),
                   CAST(:run_id AS BIGINT), {before}, {after}
            {from_where}
            ORDER BY 6
            """,
            **extra,
        )
        key = action.replace(".", "_")
        self._count(key, written)
        return written

    def _is_bulk(self) -> bool:
        """Whether this batch may change table sizes enough to mislead the planner."""
        return self.batch.staged_rows >= BULK_ROWS

    def _refresh_planning(self, *tables: str) -> None:
        """PostgreSQL never analyses temporary tables by itself, and a bulk load
        inside this transaction leaves the planner's row counts stale; without
        fresh ones it picks nested loops that are quadratic at 100k users.

        SQLite takes a table without statistics for a million rows, so next to a
        tenant's analysed tables it would scan 100k users to join a few staged
        rows: the staged tables of a change batch are analysed too (a scan of a
        few rows). A bulk batch's steps fix their join order with CROSS JOIN.
        """
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        elif not self._is_bulk():
            for table in tables:
                self.conn.exec_driver_sql(f"ANALYZE {table}")

    def _refresh_working_sets(self, *tables: str) -> None:
        """The same for working sets a step filled, in a change batch (a bulk
        batch's plans are fixed already, and its working sets are large)."""
        if self._is_bulk():
            return
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        else:
            for table in tables:
                self.conn.exec_driver_sql(f"ANALYZE {table}")


def parse_json(value: Any) -> Any:
    """JSON columns come back parsed from PostgreSQL and as text from raw SQLite reads."""
    if isinstance(value, str):
        return json.loads(value)
    return value
