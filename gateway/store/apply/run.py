"""One apply: the steps in order, inside the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from gateway.store.apply.group_steps import GroupSteps
from gateway.store.apply.results import (
    ApplyOptions,
    ApplyResult,
    ApplyStatus,
    Change,
    StaleSnapshotError,
)
from gateway.store.apply.sql import parse_json
from gateway.store.apply.team_steps import TeamSteps
from gateway.store.apply.user_steps import UserSteps
from gateway.store.staging import index_staged_users
from gateway.store.tables import utcnow

if TYPE_CHECKING:
    from gateway.store.apply.batch import SyncBatch


class ApplyRun(UserSteps, GroupSteps, TeamSteps):
    """The SQL steps of one apply, in order; see each step's docstring."""

    def __init__(
        self, conn: Connection, batch: SyncBatch, *, complete: bool, options: ApplyOptions
    ) -> None:
        self.conn = conn
        self.batch = batch
        self.options = options
        self.dialect = conn.dialect.name
        self.counts: dict[str, int] = {"users_skipped": batch.skipped_count}
        self.warnings = batch.warnings
        self.changes: list[Change] = []
        self.synced_before = 0
        self.deactivating = 0
        self.params: dict[str, Any] = {
            "t": batch.tenant_id,
            "s": str(batch.source),
            "actor": f"sync:{batch.source}",
            "now": utcnow(),
            "run_id": options.run_id,
            "complete": complete,
        }

    def result(self, status: ApplyStatus) -> ApplyResult:
        return ApplyResult(
            status=status,
            counts=dict(self.counts),
            warnings=list(self.warnings),
            changes=list(self.changes),
            synced_users_before=self.synced_before,
            deactivating=self.deactivating,
        )

    def execute(self) -> ApplyResult:
        self._lock_tenant()
        self._advance_generation()
        self.first_audit_id = self._scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log")
        self.synced_before = self._scalar(
            "SELECT COUNT(*) FROM users WHERE tenant_id = :t AND active"
        )
        self.team_id = self._ensure_entra_team()
        self.team_members = self._scalar(
            "SELECT COUNT(*) FROM team_memberships WHERE team_id = :team AND owner = :s",
            team=self.team_id,
        )
        self.team_was_complete = self.team_members == self._scalar(
            "SELECT COALESCE(team_members, -1) FROM source_states"
            " WHERE tenant_id = :t AND source = :s"
        )
        index_staged_users(self.conn)
        self._refresh_planning("stg_users", "stg_groups", "stg_members", "stg_users_unusable")
        self._refresh_working_sets("stg_user_removals", "stg_group_removals", "stg_member_removals")
        self._prepare()
        self._unlink_users()
        self._match_users()
        self._resolve_conflicts()
        self._skip_taken_object_ids()
        self._update_users()
        self._insert_users()
        self._upsert_links()
        self._apply_activation()
        self._apply_groups()
        self._apply_tags()
        if self._is_bulk():
            self._refresh_planning("users", "user_sources", "groups", "group_memberships")
        self._apply_group_memberships()
        self._refresh_planning("stg_affected", "stg_users")
        self._apply_team_memberships()
        self._refresh_statistics()
        if self.options.collect_changes or self.options.dry_run:
            self.changes = self._read_changes()
        return self.result(ApplyStatus.APPLIED)

    def _refresh_statistics(self) -> None:
        """Keep the planner's statistics of the tables this apply changed current
        for what comes next (admin listings plan by them on SQLite too: without
        them SQLite scans a tenant's 100k users to read a page of 100).

        After a bulk apply they are rebuilt at once; otherwise SQLite's
        ``PRAGMA optimize`` (next to nothing when nothing changed much) and
        PostgreSQL's autovacuum keep them up as tables grow.
        """
        if self._is_bulk():
            tables = ("users", "user_sources", "groups", "group_memberships")
            for table in (*tables, "team_memberships", "tags"):
                self.conn.exec_driver_sql(f"ANALYZE {table}")
        elif self.dialect == "sqlite":
            self.conn.exec_driver_sql("PRAGMA optimize")

    def _advance_generation(self) -> None:
        """Count this apply; a snapshot diffed against an older generation is stale."""
        current = self._scalar(
            "SELECT generation FROM source_states WHERE tenant_id = :t AND source = :s"
        )
        index = self.batch.stored_index
        if index is not None and index.generation != current:
            raise StaleSnapshotError(
                f"{self.batch.source} data of this tenant changed while the snapshot was read; "
                "run the sync again"
            )
        self._run(
            """
            INSERT INTO source_states (tenant_id, source, generation, updated_at)
            VALUES (:t, :s, 1, :now)
            ON CONFLICT (tenant_id, source) DO UPDATE
                SET generation = source_states.generation + 1, updated_at = excluded.updated_at
            """
        )

    def _lock_tenant(self) -> None:
        """Serialise applies per tenant (SQLite already holds its write lock)."""
        if self.dialect == "postgresql":
            self._run("SELECT pg_advisory_xact_lock(hashtextextended(:t, 7))")

    def _read_changes(self) -> list[Change]:
        rows = self.conn.execute(
            text(
                """
                SELECT action, subject_type, subject_id, before, after FROM audit_log
                WHERE id > :first AND tenant_id = :t AND actor = :actor ORDER BY id
                """
            ).columns(),
            {**self.params, "first": self.first_audit_id},
        ).all()
        return [
            Change(action, subject_type, subject_id, parse_json(before), parse_json(after))
            for action, subject_type, subject_id, before, after in rows
        ]
