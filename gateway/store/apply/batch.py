"""Staging a source's state for one tenant, and the one-call entry points."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.identity.emails import clean_email, email_key
from gateway.identity.model import Source, SourceGroup, SourceUser, SyncWarning, WarningCode
from gateway.identity.rules import (
    group_name_warning,
    name_key,
    tag_name_for_group,
    user_warnings,
)
from gateway.store.apply.results import (
    ApplyOptions,
    ApplyResult,
    ApplyStatus,
    DryRunSignal,
    NeedsConfirmationSignal,
)
from gateway.store.apply.run import ApplyRun
from gateway.store.source_index import StoredIndex, user_fingerprint
from gateway.store.staging import bulk_load, create_staging_tables, drop_staging_tables

_LOAD_CHUNK = 5000
_DISCARD_AFTER_ROWS = 10_000


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
        self._pending_users: list[tuple[Any, ...]] = []
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
            if conn.dialect.name == "sqlite" and self.staged_rows >= _DISCARD_AFTER_ROWS:
                # Dropping 300k staged rows page by page takes a third of a
                # second; closing the connection just deletes its temp file.
                conn.invalidate()
            else:
                with conn.begin():
                    drop_staging_tables(conn)
        finally:
            conn.close()
            self._conn = None

    @property
    def skipped_count(self) -> int:
        """Users the source has that could not be applied (no usable address)."""
        return self._skipped

    @property
    def stored_index(self) -> StoredIndex | None:
        """What the store held when a snapshot began (``None`` for change batches)."""
        return self._index

    @property
    def staged_rows(self) -> int:
        return sum(self._staged.values())

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
        # Rows wait across calls for a full chunk: a source that pages (999
        # users a call) would otherwise pay a transaction per page.
        rows = self._pending_users
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
                rows = self._pending_users = []

    def _flush_users(self) -> None:
        self._load("stg_users", self._pending_users)
        self._pending_users = []
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
        self._flush_users()
        if complete:
            self._stage_absence()
        opts = options or ApplyOptions()
        conn = self._connection().execution_options(gateway_write=True)
        run = ApplyRun(conn, self, complete=complete, options=opts)
        try:
            with conn.begin():
                result = run.execute()
                if opts.dry_run:
                    raise DryRunSignal
        except NeedsConfirmationSignal:
            return run.result(ApplyStatus.NEEDS_CONFIRMATION)
        except DryRunSignal:
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
