"""Apply what a sync source currently says to the identity store (rules 1-10).

Both the Graph sync and the SCIM server call this one engine. A batch is loaded
into session-local staging tables (streamed, page by page if the caller likes)
and then applied in one transaction with set-based SQL. The audit entries that
transaction writes are the change set: a dry run applies, reads them back and
rolls back, so its diff is exact by construction.

Two kinds of batch:

* a **snapshot** says "this is everything source S has for tenant T": what it
  does not name is unlinked, but only when the read was ``complete`` (rule 10);
* a **change batch** names upserts and removals explicitly (Graph delta pages,
  SCIM requests) and never infers removal from absence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    Connection,
    Engine,
    String,
    TextClause,
    bindparam,
    text,
)

from gateway.identity.emails import clean_email, email_key
from gateway.identity.model import Source, SourceGroup, SourceUser, SyncWarning, WarningCode
from gateway.identity.rules import (
    ENTRA_TEAM_KEY,
    ENTRA_TEAM_NAME,
    deactivation_needs_confirmation,
    group_name_warning,
    name_key,
    tag_name_for_group,
    user_warnings,
)
from gateway.store.source_index import StoredIndex, user_fingerprint
from gateway.store.staging import bulk_load, create_staging_tables, drop_staging_tables
from gateway.store.tables import UtcDateTime, utcnow

_LOAD_CHUNK = 5000
_MAX_CONFLICT_ROUNDS = 1000
_BULK_ROWS = 10_000

_PARAM_TYPES: dict[str, Any] = {
    "t": String(),
    "s": String(),
    "actor": String(),
    "now": UtcDateTime(),
    "run_id": BigInteger(),
    "team": BigInteger(),
    "complete": Boolean(),
}


class ApplyStatus(StrEnum):
    APPLIED = "applied"
    DRY_RUN = "dry_run"
    NEEDS_CONFIRMATION = "needs_confirmation"


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """How to apply a batch.

    ``dry_run`` computes the exact change set and keeps nothing.
    ``confirm_deactivations`` lets a run through that deactivates more than the
    threshold (an admin's confirmation, rule 10).
    """

    dry_run: bool = False
    confirm_deactivations: bool = False
    threshold_share: float = 0.10
    threshold_min_users: int = 10
    run_id: int | None = None
    collect_changes: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    action: str
    subject_type: str
    subject_id: str | None
    before: Any
    after: Any


@dataclass(slots=True)
class ApplyResult:
    status: ApplyStatus
    counts: dict[str, int]
    warnings: list[SyncWarning]
    changes: list[Change] = field(default_factory=list)
    synced_users_before: int = 0
    deactivating: int = 0


class StaleSnapshotError(RuntimeError):
    """Another apply of the same source committed while a snapshot was staged."""


class _NeedsConfirmationSignal(Exception):
    """Internal: roll the transaction back because the threshold was crossed."""


class _DryRunSignal(Exception):
    """Internal: roll a dry run back after reading its change set."""


class SyncBatch:
    """Stage one source's state for a tenant, then :meth:`apply` it.

    Use as a context manager; it holds one database connection (staging
    tables are session-local) and drops its staging tables on exit.
    """

    def __init__(self, engine: Engine, tenant_id: str, source: Source, *, snapshot: bool) -> None:
        self._engine = engine
        self.tenant_id = tenant_id
        self.source = source
        self.snapshot = snapshot
        self.warnings: list[SyncWarning] = []
        self._conn: Connection | None = None
        self._user_ids: set[str] = set()
        self._email_keys: set[str] = set()
        self._group_ids: set[str] = set()
        self._group_names: dict[str, str] = {}
        self._skipped = 0
        self._unchanged = 0
        self._unusable: list[tuple[Any, ...]] = []
        self._index: StoredIndex | None = None
        self._absent_members: list[tuple[str, str]] = []
        self._staged: dict[str, int] = {}
        self._applied = False

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> SyncBatch:
        self._conn = self._engine.connect()
        with self._conn.begin():
            create_staging_tables(self._conn)
            if self.snapshot:
                self._index = StoredIndex.load(self._conn, self.tenant_id, str(self.source))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._connection()
        try:
            if conn.in_transaction():
                conn.rollback()
            with conn.begin():
                drop_staging_tables(conn)
        finally:
            conn.close()
            self._conn = None

    @property
    def present_external_ids(self) -> set[str]:
        """Users this batch names, staged or not (a snapshot skips unchanged ones)."""
        return self._user_ids

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("SyncBatch is used outside its 'with' block")
        return self._conn

    # -- staging ------------------------------------------------------------

    def add_users(self, users: Iterable[SourceUser]) -> None:
        """Stage users as the source has them now (insert or update)."""
        # The hot loop of a 100k-user snapshot: names bound locally on purpose.
        rows: list[tuple[Any, ...]] = []
        seen, keys, index = self._user_ids, self._email_keys, self._index
        for user in users:
            external_id = user.external_id
            if external_id in seen:
                continue
            seen.add(external_id)
            primary_email = clean_email(user.primary_email)
            user_name = user.user_name.strip()
            user_name_key = email_key(user_name)
            key = email_key(primary_email) if primary_email is not None else None
            if key != user_name_key:
                self.warnings.extend(user_warnings(external_id, primary_email, user_name))
            if primary_email is None or key is None:
                self._skip(user)
                continue
            if key in keys:
                self._skip(user)
                self.warnings.append(_duplicate_email_warning(primary_email, external_id))
                continue
            keys.add(key)
            enabled = bool(user.enabled)
            fingerprint = user_fingerprint(
                primary_email, user_name, user.display_name, enabled, user.entra_object_id
            )
            if index is not None and index.is_unchanged(external_id, fingerprint):
                self._unchanged += 1
                continue
            rows.append(
                (
                    external_id,
                    user.entra_object_id,
                    primary_email,
                    key,
                    user_name,
                    user_name_key,
                    user.display_name,
                    enabled,
                    fingerprint,
                )
            )
            if len(rows) >= _LOAD_CHUNK:
                self._load("stg_users", rows)
                rows = []
        self._load("stg_users", rows)
        self._load("stg_users_unusable", self._unusable)
        self._unusable = []

    def _skip(self, user: SourceUser) -> None:
        # A user the source has but we cannot apply is left as it is: neither
        # updated nor, being present, deactivated for absence. Being disabled
        # still counts, since a disabled account must never keep its access;
        # being enabled does not, since the record is not usable.
        self._skipped += 1
        self._unusable.append((user.external_id, bool(user.enabled)))

    def remove_users(self, external_ids: Iterable[str]) -> None:
        """Stage users the source no longer has (deleted or out of scope)."""
        self._require_change_batch("remove_users")
        self._load("stg_user_removals", [(external_id,) for external_id in external_ids])

    def add_groups(self, groups: Iterable[SourceGroup], *, members_complete: bool = True) -> None:
        """Stage groups; with ``members_complete`` their member lists are the whole truth."""
        group_rows: list[tuple[Any, ...]] = []
        member_rows: list[tuple[Any, ...]] = []
        for group in groups:
            if group.external_id in self._group_ids:
                continue
            self._group_ids.add(group.external_id)
            display_name = group.display_name.strip()
            warning = group_name_warning(group.external_id, display_name)
            if warning is not None:
                self.warnings.append(warning)
            self._note_group_name(group.external_id, display_name)
            tag_name = tag_name_for_group(display_name)
            row = (
                group.external_id,
                display_name,
                tag_name,
                name_key(tag_name) if tag_name else None,
                members_complete,
            )
            known = self._index.groups.get(group.external_id) if self._index else None
            if self._index is None or known is None:
                group_rows.append(row)
                member_rows.extend((group.external_id, member) for member in group.members)
            else:
                # A snapshot stages only what differs from the store.
                group_id, stored_name = known
                if stored_name != display_name:
                    group_rows.append((*row[:4], False))
                additions, removals = self._index.member_changes(group_id, group.members)
                member_rows.extend((group.external_id, member) for member in additions)
                self._absent_members.extend((group.external_id, member) for member in removals)
            if len(member_rows) >= _LOAD_CHUNK:
                self._load("stg_members", member_rows)
                member_rows = []
        self._load("stg_groups", group_rows)
        self._load("stg_members", member_rows)

    def remove_groups(self, external_ids: Iterable[str]) -> None:
        self._require_change_batch("remove_groups")
        self._load("stg_group_removals", [(external_id,) for external_id in external_ids])

    def _stage_absence(self) -> None:
        """What a complete snapshot did not name is gone from the source (rule 10)."""
        index = self._index
        if index is None:
            return
        present = self._user_ids
        self._load("stg_user_removals", [(e,) for e in index.external_ids() if e not in present])
        self._load("stg_group_removals", [(e,) for e in index.groups if e not in self._group_ids])
        self._load("stg_member_removals", list(self._absent_members))

    def add_members(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Stage (group external id, user external id) memberships to add."""
        self._require_change_batch("add_members")
        self._load_stream("stg_members", pairs)

    def remove_members(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Stage (group external id, user external id) memberships to remove."""
        self._require_change_batch("remove_members")
        self._load_stream("stg_member_removals", pairs)

    def _require_change_batch(self, method: str) -> None:
        if self.snapshot:
            raise TypeError(f"{method} is for change batches; a snapshot names whole groups")

    def _note_group_name(self, external_id: str, display_name: str) -> None:
        key = display_name.lower()
        other = self._group_names.setdefault(key, external_id)
        if other != external_id:
            self.warnings.append(
                SyncWarning(
                    WarningCode.DUPLICATE_GROUP_NAME,
                    subject=display_name,
                    message=(
                        "Two synced groups share this name, so they give the same tag; "
                        "rename one in Entra ID if they mean different things."
                    ),
                    detail={"external_id": external_id, "other_external_id": other},
                )
            )

    def _load_stream(self, table: str, rows: Iterable[tuple[str, str]]) -> None:
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= _LOAD_CHUNK:
                self._load(table, chunk)
                chunk = []
        self._load(table, chunk)

    def staged(self, table: str) -> bool:
        """Whether anything was staged into ``table`` (steps skip empty inputs)."""
        return self._staged.get(table, 0) > 0

    def _load(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        self._staged[table] = self._staged.get(table, 0) + len(rows)
        conn = self._connection()
        with conn.begin():
            bulk_load(conn, table, rows)

    # -- apply --------------------------------------------------------------

    def apply(self, *, complete: bool = True, options: ApplyOptions | None = None) -> ApplyResult:
        """Apply the staged batch in one transaction and report what changed.

        ``complete`` says the source was read without any error; only then is
        absence evidence (rule 10). A batch can be applied once.
        """
        if self._applied:
            raise RuntimeError("a SyncBatch can be applied only once")
        self._applied = True
        if complete:
            self._stage_absence()
        opts = options or ApplyOptions()
        conn = self._connection().execution_options(gateway_write=True)
        run = _ApplyRun(conn, self, complete=complete, options=opts)
        try:
            with conn.begin():
                result = run.execute()
                if opts.dry_run:
                    raise _DryRunSignal
        except _NeedsConfirmationSignal:
            return run.result(ApplyStatus.NEEDS_CONFIRMATION)
        except _DryRunSignal:
            return run.result(ApplyStatus.DRY_RUN)
        return result


def _duplicate_email_warning(primary_email: str, external_id: str) -> SyncWarning:
    return SyncWarning(
        WarningCode.DUPLICATE_PRIMARY_EMAIL,
        subject=primary_email,
        message=(
            "Another user in this batch has the same Primary Email; this one "
            "was not synced. Give each user a distinct Email in Entra ID."
        ),
        detail={"external_id": external_id},
    )


class _ApplyRun:
    """The SQL steps of one apply, in order; see each method's docstring."""

    def __init__(
        self, conn: Connection, batch: SyncBatch, *, complete: bool, options: ApplyOptions
    ) -> None:
        self.conn = conn
        self.batch = batch
        self.options = options
        self.dialect = conn.dialect.name
        self.counts: dict[str, int] = {"users_skipped": batch._skipped}
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
        self._refresh_statistics("stg_users", "stg_groups", "stg_members", "stg_users_unusable")
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
            self._refresh_statistics("users", "user_sources", "groups", "group_memberships")
        self._apply_group_memberships()
        self._refresh_statistics("stg_affected", "stg_users")
        self._apply_team_memberships()
        if self._is_bulk():
            # The next apply plans against these tables right away, before
            # autovacuum would have looked at them.
            self._refresh_statistics("team_memberships", "tags")
        if self.options.collect_changes or self.options.dry_run:
            self.changes = self._read_changes()
        return self.result(ApplyStatus.APPLIED)

    # -- helpers --------------------------------------------------------------

    def _sql(self, sql: str) -> TextClause:
        # Typed binds let PostgreSQL infer parameters used in SELECT lists.
        clause = text(sql)
        typed = [
            bindparam(name, type_=type_)
            for name, type_ in _PARAM_TYPES.items()
            if re.search(rf":{name}\b", sql)
        ]
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
            """
        )
        key = action.replace(".", "_")
        self._count(key, written)
        return written

    # -- steps ---------------------------------------------------------------

    def _is_bulk(self) -> bool:
        """Whether this batch may change table sizes enough to mislead the planner."""
        staged = sum(self.batch._staged.values())
        return staged >= _BULK_ROWS

    def _refresh_statistics(self, *tables: str) -> None:
        """PostgreSQL never analyses temporary tables by itself, and a bulk load
        inside this transaction leaves the planner's row counts stale; without
        fresh ones it picks nested loops that are quadratic at 100k users."""
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")

    def _advance_generation(self) -> None:
        """Count this apply; a snapshot diffed against an older generation is stale."""
        current = self._scalar(
            "SELECT generation FROM source_states WHERE tenant_id = :t AND source = :s"
        )
        index = self.batch._index
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

    def _ensure_entra_team(self) -> int:
        """The team every synced active user belongs to (rule 5), created on first use."""
        team_id = self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND system_key = :key", key=ENTRA_TEAM_KEY
        )
        if team_id:
            return team_id
        existing = self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND name_key = :name_key",
            name_key=name_key(ENTRA_TEAM_NAME),
        )
        if existing:
            # An admin made a team of that name first: adopt it rather than fail.
            self._run(
                "UPDATE teams SET system_key = :key WHERE id = :id", key=ENTRA_TEAM_KEY, id=existing
            )
            return existing
        self._run(
            """
            INSERT INTO teams (tenant_id, name, name_key, system_key, created_at)
            VALUES (:t, :name, :name_key, :key, :now)
            """,
            name=ENTRA_TEAM_NAME,
            name_key=name_key(ENTRA_TEAM_NAME),
            key=ENTRA_TEAM_KEY,
        )
        return self._scalar(
            "SELECT id FROM teams WHERE tenant_id = :t AND system_key = :key", key=ENTRA_TEAM_KEY
        )

    def _prepare(self) -> None:
        """Explicit removals win over upserts named in the same batch."""
        self._run(
            """
            DELETE FROM stg_users
            WHERE external_id IN (SELECT external_id FROM stg_user_removals)
            """
        )
        self._run(
            """
            DELETE FROM stg_groups
            WHERE external_id IN (SELECT external_id FROM stg_group_removals)
            """
        )
        # Users the source already links, by the source's own key.
        self._run(
            """
            UPDATE stg_users SET user_id = us.user_id
            FROM user_sources us
            WHERE us.tenant_id = :t AND us.source = :s AND us.external_id = stg_users.external_id
            """
        )

    def _unlink_users(self) -> None:
        """Drop the links the source no longer has (named removals; a complete
        snapshot names what it lacks). A user keeps its record (rule 8)."""
        self._run(
            """
            INSERT INTO stg_unlinked (user_id)
            SELECT us.user_id FROM user_sources us JOIN stg_user_removals r
              ON us.tenant_id = :t AND us.source = :s AND us.external_id = r.external_id
            """
        )
        self._audit(
            "user.source_removed",
            "user",
            "us.user_id",
            """
            FROM user_sources us JOIN stg_unlinked x ON x.user_id = us.user_id
            WHERE us.source = :s
            """,
            before=self._json(source="us.source", external_id="us.external_id"),
        )
        self._run(
            """
            DELETE FROM user_sources
            WHERE source = :s AND user_id IN (SELECT user_id FROM stg_unlinked)
            """
        )

    def _match_users(self) -> None:
        """Match the rest by Entra object id, then by Primary Email (rule 4)."""
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.user_id IS NULL AND stg_users.entra_object_id IS NOT NULL
              AND u.tenant_id = :t AND u.entra_object_id = stg_users.entra_object_id
              AND NOT EXISTS (
                  SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.source = :s)
              AND NOT EXISTS (SELECT 1 FROM stg_users other WHERE other.user_id = u.id)
            """
        )
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.user_id IS NULL
              AND u.tenant_id = :t AND u.email_key = stg_users.email_key
              AND (u.entra_object_id IS NULL OR stg_users.entra_object_id IS NULL
                   OR u.entra_object_id = stg_users.entra_object_id)
              AND NOT EXISTS (
                  SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.source = :s)
              AND NOT EXISTS (SELECT 1 FROM stg_users other WHERE other.user_id = u.id)
            """
        )

    def _resolve_conflicts(self) -> None:
        """Keep Primary Emails unique per tenant (rule 4).

        An address held by a user that no source has enabled, and that this
        batch does not name, is released to the newcomer (the old record keeps
        it for display). Otherwise the incoming record yields: a known user
        keeps its old address, a new one is skipped, and the run says why. A
        record that yields may leave another one without the address it was
        counting on, so this repeats until nothing conflicts.
        """
        for _ in range(_MAX_CONFLICT_ROUNDS):
            conflicts = list(
                self._rows(
                    """
                    SELECT s.external_id, s.primary_email, s.user_id, holder.id,
                           EXISTS (SELECT 1 FROM user_sources us
                                   WHERE us.user_id = holder.id AND us.enabled)
                           OR EXISTS (SELECT 1 FROM stg_users named
                                      WHERE named.user_id = holder.id AND NOT named.skip)
                               AS holder_stays,
                           (SELECT hs.external_id FROM user_sources hs
                            WHERE hs.user_id = holder.id AND hs.source = :s) AS holder_link,
                           mine.primary_email, mine.email_key
                    FROM stg_users s
                    JOIN users holder ON holder.tenant_id = :t AND holder.email_key = s.email_key
                    LEFT JOIN users mine ON mine.id = s.user_id
                    WHERE NOT s.skip AND (s.user_id IS NULL OR holder.id <> s.user_id)
                      AND NOT EXISTS (
                          SELECT 1 FROM stg_users moving
                          WHERE moving.user_id = holder.id AND NOT moving.skip
                            AND moving.email_key <> holder.email_key)
                    """
                )
            )
            if not conflicts:
                return
            release: set[int] = set()
            present = self.batch.present_external_ids
            for row in conflicts:
                external_id, wanted, user_id, holder_id, holder_stays, holder_link, old, old_key = (
                    row
                )
                # A snapshot does not stage users it has unchanged; they are present all the same.
                if not holder_stays and holder_link not in present:
                    release.add(int(holder_id))
                elif user_id is None or old_key is None:
                    self._yield_address(external_id, wanted, holder_id, skip=True)
                else:
                    self._yield_address(external_id, wanted, holder_id, skip=False)
                    self._run(
                        # Not applied in full: no fingerprint, so the next
                        # snapshot tries again.
                        "UPDATE stg_users SET primary_email = :e, email_key = :k,"
                        " fingerprint = NULL WHERE external_id = :x",
                        e=old,
                        k=old_key,
                        x=external_id,
                    )
            if release:
                self._release_addresses(sorted(release))
        raise RuntimeError("Primary Email conflicts did not settle; this is a bug")

    def _yield_address(self, external_id: str, wanted: str, holder_id: int, *, skip: bool) -> None:
        outcome = "was not synced" if skip else "keeps its old one"
        self.warnings.append(
            SyncWarning(
                WarningCode.PRIMARY_EMAIL_TAKEN,
                subject=str(wanted),
                message=(
                    f"Another active user already has this Primary Email, so this user "
                    f"{outcome}; make the Email unique in Entra ID."
                ),
                detail={"external_id": str(external_id), "holder_user_id": str(holder_id)},
            )
        )
        if skip:
            self._run("UPDATE stg_users SET skip = TRUE WHERE external_id = :x", x=external_id)
            self._count("users_skipped", 1)

    def _release_addresses(self, user_ids: list[int]) -> None:
        ids: BindParameter[Any] = bindparam("ids", expanding=True)
        audit = """
            INSERT INTO audit_log
                (tenant_id, at, actor, action, subject_type, subject_id, run_id, before, after)
            SELECT tenant_id, :now, :actor, 'user.email_released', 'user',
                   CAST(id AS VARCHAR(64)), :run_id, {before}, NULL
            FROM users WHERE id IN :ids
        """.format(before=self._json(primary_email="primary_email"))
        release = "UPDATE users SET email_key = NULL, updated_at = :now WHERE id IN :ids"
        for sql in (audit, release):
            self.conn.execute(self._sql(sql).bindparams(ids), {**self.params, "ids": user_ids})
        self._count("user_email_released", len(user_ids))

    def _skip_taken_object_ids(self) -> None:
        # A new Entra object id already held by another user cannot be created twice.
        self._run(
            """
            UPDATE stg_users SET skip = TRUE
            WHERE user_id IS NULL AND entra_object_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM users u
                WHERE u.tenant_id = :t AND u.entra_object_id = stg_users.entra_object_id)
            """
        )

    def _update_users(self) -> None:
        """Update changed attributes of matched users; a changed Primary Email
        moves in two steps so that two users may swap addresses in one batch."""
        changed = """
            FROM stg_users s JOIN users u ON u.id = s.user_id
            WHERE NOT s.skip AND (
                u.primary_email <> s.primary_email
                OR u.email_key IS DISTINCT FROM s.email_key
                OR u.user_name <> s.user_name
                OR u.display_name IS DISTINCT FROM s.display_name
                OR (u.entra_object_id IS NULL AND s.entra_object_id IS NOT NULL))
        """
        fields = {
            "primary_email": "primary_email",
            "user_name": "user_name",
            "display_name": "display_name",
        }
        self._audit(
            "user.updated",
            "user",
            "u.id",
            changed,
            before=self._json(**{k: f"u.{v}" for k, v in fields.items()}),
            after=self._json(**{k: f"s.{v}" for k, v in fields.items()}),
        )
        self._run(
            """
            UPDATE users SET email_key = NULL
            FROM stg_users s
            WHERE users.id = s.user_id AND NOT s.skip AND users.email_key <> s.email_key
            """
        )
        self._run(
            """
            UPDATE users SET
                primary_email = s.primary_email,
                email_key = s.email_key,
                user_name = s.user_name,
                user_name_key = s.user_name_key,
                display_name = s.display_name,
                entra_object_id = COALESCE(users.entra_object_id, s.entra_object_id),
                updated_at = :now
            FROM stg_users s
            WHERE users.id = s.user_id AND NOT s.skip AND (
                users.primary_email <> s.primary_email
                OR users.email_key IS DISTINCT FROM s.email_key
                OR users.user_name <> s.user_name
                OR users.display_name IS DISTINCT FROM s.display_name
                OR (users.entra_object_id IS NULL AND s.entra_object_id IS NOT NULL))
            """
        )

    def _insert_users(self) -> None:
        self._run("UPDATE stg_users SET created = TRUE WHERE user_id IS NULL AND NOT skip")
        self._run(
            """
            INSERT INTO users (tenant_id, primary_email, email_key, user_name, user_name_key,
                               display_name, entra_object_id, active, created_at, updated_at,
                               deactivated_at)
            SELECT :t, s.primary_email, s.email_key, s.user_name, s.user_name_key,
                   s.display_name, s.entra_object_id, s.enabled, :now, :now,
                   CASE WHEN s.enabled THEN NULL ELSE :now END
            FROM stg_users s WHERE s.created
            """
        )
        self._run(
            """
            UPDATE stg_users SET user_id = u.id
            FROM users u
            WHERE stg_users.created AND u.tenant_id = :t AND u.email_key = stg_users.email_key
            """
        )
        self._audit(
            "user.created",
            "user",
            "s.user_id",
            "FROM stg_users s WHERE s.created",
            after=self._json(
                primary_email="s.primary_email",
                user_name="s.user_name",
                active=self._bool("s.enabled"),
            ),
        )

    def _upsert_links(self) -> None:
        if self.batch.staged("stg_users_unusable"):
            self._disable_unusable()
        self._run(
            """
            INSERT INTO user_sources (user_id, source, tenant_id, external_id, enabled,
                                      fingerprint)
            SELECT s.user_id, :s, :t, s.external_id, s.enabled, s.fingerprint
            FROM stg_users s WHERE NOT s.skip AND s.user_id IS NOT NULL
            ON CONFLICT (user_id, source) DO UPDATE
                SET external_id = excluded.external_id, enabled = excluded.enabled,
                    fingerprint = excluded.fingerprint
                WHERE user_sources.external_id <> excluded.external_id
                   OR user_sources.enabled <> excluded.enabled
                   OR user_sources.fingerprint IS DISTINCT FROM excluded.fingerprint
            """
        )

    def _disable_unusable(self) -> None:
        self._run(
            """
            UPDATE user_sources SET enabled = FALSE, fingerprint = NULL
            WHERE tenant_id = :t AND source = :s AND enabled AND external_id IN (
                SELECT external_id FROM stg_users_unusable WHERE NOT enabled)
            """
        )

    def _apply_activation(self) -> None:
        """A user is active while any source has it enabled (rule 8).

        Stops the run when it would deactivate an unusual share (rule 10).
        """
        self._run(
            """
            INSERT INTO stg_affected (user_id)
            SELECT user_id FROM stg_users WHERE user_id IS NOT NULL AND NOT skip AND NOT created
            UNION SELECT user_id FROM stg_unlinked
            UNION SELECT us.user_id FROM user_sources us JOIN stg_users_unusable x
                ON us.tenant_id = :t AND us.source = :s AND us.external_id = x.external_id
            """
        )
        self._run(
            """
            INSERT INTO stg_activation (user_id, was_active, now_active)
            SELECT u.id, u.active, EXISTS (
                SELECT 1 FROM user_sources us WHERE us.user_id = u.id AND us.enabled)
            FROM users u JOIN stg_affected a ON a.user_id = u.id
            """
        )
        self._run("DELETE FROM stg_activation WHERE was_active = now_active")
        self.deactivating = self._scalar("SELECT COUNT(*) FROM stg_activation WHERE was_active")
        if (
            deactivation_needs_confirmation(
                self.synced_before,
                self.deactivating,
                self.options.threshold_share,
                self.options.threshold_min_users,
            )
            and not self.options.confirm_deactivations
        ):
            self._count("users_deactivated", self.deactivating)
            raise _NeedsConfirmationSignal
        for action, was_active in (("user.deactivated", True), ("user.reactivated", False)):
            self._audit(
                action,
                "user",
                "a.user_id",
                "FROM stg_activation a WHERE "
                + ("a.was_active" if was_active else "NOT a.was_active"),
                before=self._json(active=self._bool("a.was_active")),
                after=self._json(active=self._bool("a.now_active")),
            )
        self._run(
            """
            UPDATE users SET active = a.now_active, updated_at = :now,
                deactivated_at = CASE WHEN a.now_active THEN NULL ELSE :now END
            FROM stg_activation a WHERE users.id = a.user_id
            """
        )

    def _apply_groups(self) -> None:
        self._run(
            """
            UPDATE stg_groups SET group_id = g.id
            FROM groups g
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = stg_groups.external_id
            """
        )
        self._run(
            """
            INSERT INTO stg_removed_groups (group_id)
            SELECT g.id FROM groups g JOIN stg_group_removals r
              ON g.tenant_id = :t AND g.source = :s AND g.external_id = r.external_id
            """
        )
        self._audit(
            "group_membership.removed",
            "user",
            "gm.user_id",
            "FROM group_memberships gm JOIN stg_removed_groups r ON r.group_id = gm.group_id",
            before=self._json(group_id="CAST(gm.group_id AS VARCHAR(32))"),
        )
        self._run(
            """
            DELETE FROM group_memberships
            WHERE group_id IN (SELECT group_id FROM stg_removed_groups)
            """
        )
        self._audit(
            "group.removed",
            "group",
            "g.id",
            "FROM groups g JOIN stg_removed_groups r ON r.group_id = g.id",
            before=self._json(external_id="g.external_id", display_name="g.display_name"),
        )
        self._run("DELETE FROM groups WHERE id IN (SELECT group_id FROM stg_removed_groups)")
        self._audit(
            "group.renamed",
            "group",
            "g.id",
            """
            FROM groups g JOIN stg_groups s ON s.group_id = g.id
            WHERE g.display_name <> s.display_name
            """,
            before=self._json(display_name="g.display_name"),
            after=self._json(display_name="s.display_name"),
        )
        self._run(
            """
            UPDATE groups SET display_name = s.display_name, updated_at = :now
            FROM stg_groups s WHERE groups.id = s.group_id AND groups.display_name <> s.display_name
            """
        )
        self._run(
            """
            INSERT INTO groups
                (tenant_id, source, external_id, display_name, created_at, updated_at)
            SELECT :t, :s, s.external_id, s.display_name, :now, :now
            FROM stg_groups s WHERE s.group_id IS NULL
            """
        )
        self._audit(
            "group.created",
            "group",
            "g.id",
            """
            FROM groups g JOIN stg_groups s
              ON g.tenant_id = :t AND g.source = :s AND g.external_id = s.external_id
            WHERE s.group_id IS NULL
            """,
            after=self._json(external_id="g.external_id", display_name="g.display_name"),
        )
        self._run(
            """
            UPDATE stg_groups SET group_id = g.id
            FROM groups g
            WHERE stg_groups.group_id IS NULL
              AND g.tenant_id = :t AND g.source = :s AND g.external_id = stg_groups.external_id
            """
        )

    def _apply_tags(self) -> None:
        """Give each staged group the tag of its name (rule 6).

        A renamed group renames its tag in place when no other group shares
        it, so the tag keeps its id; tags no group gives any more are removed.
        """
        moves = list(
            self._rows(
                """
                SELECT s.group_id, g.tag_id, t.name, s.tag_name, s.tag_key,
                       (SELECT COUNT(*) FROM groups o WHERE o.tag_id = g.tag_id) AS sharing
                FROM stg_groups s
                JOIN groups g ON g.id = s.group_id
                LEFT JOIN tags t ON t.id = g.tag_id
                WHERE g.tag_id IS NOT NULL AND t.name IS DISTINCT FROM s.tag_name
                """
            )
        )
        for group_id, tag_id, old_name, new_name, new_key, sharing in moves:
            taken = new_key is not None and self._scalar(
                "SELECT id FROM tags WHERE tenant_id = :t AND name_key = :k AND id <> :id",
                k=new_key,
                id=tag_id,
            )
            if new_name is not None and sharing == 1 and not taken:
                self._run(
                    "UPDATE tags SET name = :n, name_key = :k WHERE id = :id",
                    n=new_name,
                    k=new_key,
                    id=tag_id,
                )
                self._audit_tag_rename(tag_id, old_name, new_name)
            else:
                self._run("UPDATE groups SET tag_id = NULL WHERE id = :g", g=group_id)
        # Groups without a tag (new, or just moved off one) get theirs by name.
        self._run(
            """
            INSERT INTO tags (tenant_id, name, name_key, created_at)
            SELECT :t, MIN(s.tag_name), s.tag_key, :now
            FROM stg_groups s JOIN groups g ON g.id = s.group_id
            WHERE g.tag_id IS NULL AND s.tag_key IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM tags t WHERE t.tenant_id = :t AND t.name_key = s.tag_key)
            GROUP BY s.tag_key
            """
        )
        self._audit(
            "tag.created",
            "tag",
            "t.id",
            "FROM tags t WHERE t.tenant_id = :t AND t.created_at = :now AND NOT EXISTS ("
            " SELECT 1 FROM groups g WHERE g.tag_id = t.id)",
            after=self._json(name="t.name"),
        )
        self._run(
            """
            UPDATE groups SET tag_id = t.id
            FROM stg_groups s, tags t
            WHERE groups.id = s.group_id AND groups.tag_id IS NULL
              AND s.tag_key IS NOT NULL AND t.tenant_id = :t AND t.name_key = s.tag_key
            """
        )
        orphans = (
            "FROM tags t WHERE t.tenant_id = :t"
            " AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.tag_id = t.id)"
        )
        self._audit("tag.removed", "tag", "t.id", orphans, before=self._json(name="t.name"))
        self._run(f"DELETE FROM tags WHERE id IN (SELECT t.id {orphans})")

    def _audit_tag_rename(self, tag_id: int, old_name: str, new_name: str) -> None:
        self._run(
            """
            INSERT INTO audit_log
                (tenant_id, at, actor, action, subject_type, subject_id, run_id, before, after)
            VALUES (:t, :now, :actor, 'tag.renamed', 'tag', :id, :run_id, :before, :after)
            """,
            id=str(tag_id),
            before=_json_text({"name": old_name}),
            after=_json_text({"name": new_name}),
        )
        self._count("tag_renamed", 1)

    def _apply_group_memberships(self) -> None:
        self._run(
            """
            INSERT INTO stg_gm (group_id, user_id)
            SELECT DISTINCT g.id, us.user_id
            FROM stg_members m
            CROSS JOIN groups g
            CROSS JOIN user_sources us
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = m.group_ext
              AND us.tenant_id = :t AND us.source = :s AND us.external_id = m.user_ext
            """
        )
        self._run(
            """
            INSERT INTO stg_gm_removed (group_id, user_id)
            SELECT gm.group_id, gm.user_id
            FROM group_memberships gm JOIN stg_groups sg ON sg.group_id = gm.group_id
            WHERE :complete AND sg.members_complete AND NOT EXISTS (
                SELECT 1 FROM stg_gm x WHERE x.group_id = gm.group_id AND x.user_id = gm.user_id)
            UNION
            SELECT gm.group_id, gm.user_id
            FROM stg_member_removals r
            CROSS JOIN groups g
            CROSS JOIN user_sources us
            CROSS JOIN group_memberships gm
            WHERE g.tenant_id = :t AND g.source = :s AND g.external_id = r.group_ext
              AND us.tenant_id = :t AND us.source = :s AND us.external_id = r.user_ext
              AND gm.group_id = g.id AND gm.user_id = us.user_id
            UNION
            SELECT gm.group_id, gm.user_id
            FROM group_memberships gm
            JOIN groups g ON g.id = gm.group_id AND g.source = :s
            WHERE gm.user_id IN (SELECT user_id FROM stg_unlinked)
            """
        )
        self._audit(
            "group_membership.removed",
            "user",
            "x.user_id",
            "FROM stg_gm_removed x",
            before=self._json(group_id="CAST(x.group_id AS VARCHAR(32))"),
        )
        self._run(
            """
            DELETE FROM group_memberships
            WHERE (group_id, user_id) IN (SELECT group_id, user_id FROM stg_gm_removed)
            """
        )
        self._run(
            """
            DELETE FROM stg_gm
            WHERE EXISTS (SELECT 1 FROM group_memberships gm
                          WHERE gm.group_id = stg_gm.group_id AND gm.user_id = stg_gm.user_id)
            """
        )
        self._audit(
            "group_membership.added",
            "user",
            "x.user_id",
            "FROM stg_gm x",
            after=self._json(group_id="CAST(x.group_id AS VARCHAR(32))"),
        )
        self._run(
            """
            INSERT INTO group_memberships (group_id, user_id, tenant_id)
            SELECT group_id, user_id, :t FROM stg_gm
            """
        )

    def _apply_team_memberships(self) -> None:
        """Every user this source has enabled is in the Entra team, owned by the
        source, and no one else is: re-evaluated each run, so a manual removal
        is undone (rule 5).

        Only applies write the source's rows and between applies rows can only
        go, so when the count is what the last apply left, the rows still match
        the links and only the users this batch touched need a look.
        """
        touched = ""
        if self.team_was_complete:
            touched = """AND {column} IN (
                SELECT user_id FROM stg_affected
                UNION SELECT user_id FROM stg_users WHERE created)"""
        self._run(
            f"""
            INSERT INTO stg_team_add (user_id)
            SELECT us.user_id FROM user_sources us
            WHERE us.tenant_id = :t AND us.source = :s AND us.enabled
              {touched.format(column="us.user_id")}
              AND NOT EXISTS (
                SELECT 1 FROM team_memberships tm
                WHERE tm.team_id = :team AND tm.user_id = us.user_id AND tm.owner = :s)
            """,
            team=self.team_id,
        )
        self._run(
            f"""
            INSERT INTO stg_team_remove (user_id)
            SELECT tm.user_id FROM team_memberships tm
            WHERE tm.team_id = :team AND tm.owner = :s
              {touched.format(column="tm.user_id")}
              AND NOT EXISTS (
                SELECT 1 FROM user_sources us
                WHERE us.user_id = tm.user_id AND us.source = :s AND us.enabled)
            """,
            team=self.team_id,
        )
        team_json = self._json(team_id="CAST(:team AS VARCHAR(32))", owner=":s")
        added = self._run_audit_team("team_membership.added", "stg_team_add", after=team_json)
        removed = self._run_audit_team(
            "team_membership.removed", "stg_team_remove", before=team_json
        )
        self._run(
            "UPDATE source_states SET team_members = :n WHERE tenant_id = :t AND source = :s",
            n=self.team_members + added - removed,
        )
        self._run(
            """
            INSERT INTO team_memberships (team_id, user_id, owner, tenant_id, created_at)
            SELECT :team, user_id, :s, :t, :now FROM stg_team_add
            """,
            team=self.team_id,
        )
        self._run(
            """
            DELETE FROM team_memberships
            WHERE team_id = :team AND owner = :s
              AND user_id IN (SELECT user_id FROM stg_team_remove)
            """,
            team=self.team_id,
        )

    def _run_audit_team(self, action: str, table: str, **json_parts: str) -> int:
        self.params["team"] = self.team_id
        return self._audit(action, "user", "x.user_id", f"FROM {table} x", **json_parts)

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
            Change(action, subject_type, subject_id, _parse_json(before), _parse_json(after))
            for action, subject_type, subject_id, before, after in rows
        ]


def _json_text(value: dict[str, Any]) -> str:
    return json.dumps(value)


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


@contextmanager
def sync_batch(
    engine: Engine, tenant_id: str, source: Source, *, snapshot: bool
) -> Iterator[SyncBatch]:
    """Open a :class:`SyncBatch` (see the module docstring for the two kinds)."""
    with SyncBatch(engine, tenant_id, source, snapshot=snapshot) as batch:
        yield batch


def apply_state(
    engine: Engine,
    tenant_id: str,
    source: Source,
    *,
    users: Iterable[SourceUser],
    groups: Iterable[SourceGroup],
    complete: bool = True,
    options: ApplyOptions | None = None,
) -> ApplyResult:
    """Apply "this is everything source S has for tenant T" in one call."""
    with sync_batch(engine, tenant_id, source, snapshot=True) as batch:
        batch.add_users(users)
        batch.add_groups(groups)
        return batch.apply(complete=complete, options=options)


def apply_changes(
    engine: Engine,
    tenant_id: str,
    source: Source,
    *,
    users: Iterable[SourceUser] = (),
    removed_users: Iterable[str] = (),
    groups: Iterable[SourceGroup] = (),
    groups_members_complete: bool = False,
    removed_groups: Iterable[str] = (),
    added_members: Iterable[tuple[str, str]] = (),
    removed_members: Iterable[tuple[str, str]] = (),
    options: ApplyOptions | None = None,
) -> ApplyResult:
    """Apply explicit changes of one source ("this user/group changed")."""
    with sync_batch(engine, tenant_id, source, snapshot=False) as batch:
        batch.add_users(users)
        batch.remove_users(removed_users)
        batch.add_groups(groups, members_complete=groups_members_complete)
        batch.remove_groups(removed_groups)
        batch.add_members(added_members)
        batch.remove_members(removed_members)
        return batch.apply(complete=True, options=options)


__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "ApplyStatus",
    "Change",
    "StaleSnapshotError",
    "SyncBatch",
    "apply_changes",
    "apply_state",
    "sync_batch",
]
