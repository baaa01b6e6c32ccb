"""The identity applier: SCIM changes reach the identity store through the apply engine.

A SCIM request commits its resource and a ``scim_changes`` row in one
transaction and returns; this applier then drains the tenant's log into
:func:`gateway.store.apply.apply_changes` change batches (source ``scim``) of
at most ``BATCH_ROWS`` log rows each, so SCIM pushes and the Graph sync land in
one store under the same rules, a burst of Entra requests costs a few applies
instead of one each, and no apply holds SQLite's write lock for long. Users and groups
are applied as they are *now* (replaying the log is idempotent); membership
rows are applied last-one-wins per (group, user). A lease per tenant keeps two
processes from applying one tenant's log out of order; the engine itself
serialises applies per tenant.

Each change is an explicit instruction from Entra (not an inference from
absence), so the deactivation threshold of rule 10 does not hold it back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select, text

from gateway.identity.emails import primary_email_from_scim
from gateway.identity.model import Source, SourceGroup, SourceUser
from gateway.identity.object_ids import entra_object_id
from gateway.store import leases
from gateway.store.apply import ApplyOptions, ApplyResult, apply_changes
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.leases import LeaseKind
from gateway.store.scim_resources import scim_changes
from gateway.store.scim_runs import record_push

logger = logging.getLogger("gateway.scim.identity")

LEASE_SECONDS = 120
# One apply takes at most this many log rows, so that it holds SQLite's single
# write lock (and the GIL, beside the requests on the event loop) for tens of
# milliseconds, not hundreds; the rest follows in the next apply.
BATCH_ROWS = 500
# After a failed apply the tenant is tried again after at least this long.
_RETRY_SECONDS = 1.0
_QUIET_POLL_SECONDS = 0.01


@dataclass(slots=True)
class _Batch:
    max_seq: int
    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    members: dict[tuple[str, str], bool] = field(default_factory=dict)


def source_user(
    resource_id: str,
    user_name: str,
    display_name: str | None,
    active: bool,
    external_id: str | None,
    emails: Any,
) -> SourceUser:
    """What the identity store needs of a SCIM user (rules 2-4); ``emails`` is
    the resource's ``emails`` value."""
    entries = [e for e in emails if isinstance(e, dict)] if isinstance(emails, list) else []
    return SourceUser(
        external_id=resource_id,
        primary_email=primary_email_from_scim(entries),
        user_name=user_name,
        display_name=display_name,
        enabled=active,
        entra_object_id=entra_object_id(external_id),
    )


def drain_tenant(
    engine: Engine,
    tenant_id: str,
    *,
    holder: str,
    max_rows: int = BATCH_ROWS,
    up_to: int | None = None,
) -> ApplyResult | None:
    """Apply a tenant's oldest pending SCIM changes in one apply: at most
    ``max_rows`` log rows, none after ``up_to`` (a log ``seq``) when given.
    ``None`` when nothing was pending or another process holds the tenant's lease."""
    if not leases.acquire(engine, LeaseKind.SCIM_IDENTITY, tenant_id, holder, LEASE_SECONDS):
        return None
    try:
        batch = _read_batch(engine, tenant_id, max_rows, up_to)
        if batch is None:
            return None
        users, removed_users = _users(engine, tenant_id, batch.users)
        groups, removed_groups = _groups(engine, tenant_id, batch.groups)
        result = apply_changes(
            engine,
            tenant_id,
            Source.SCIM,
            users=users,
            removed_users=removed_users,
            groups=groups,
            removed_groups=removed_groups,
            added_members=[pair for pair, added in batch.members.items() if added],
            removed_members=[pair for pair, added in batch.members.items() if not added],
            options=ApplyOptions(confirm_deactivations=True),
        )
        with write_transaction(engine) as conn:
            conn.execute(
                delete(scim_changes).where(
                    scim_changes.c.tenant_id == tenant_id, scim_changes.c.seq <= batch.max_seq
                )
            )
            if result.warnings:
                record_push(conn, tenant_id, result.counts, result.warnings)
        return result
    finally:
        leases.release(engine, LeaseKind.SCIM_IDENTITY, tenant_id, holder)


def pending_tenants(engine: Engine) -> list[str]:
    """Tenants with SCIM changes not yet applied (e.g. after a restart)."""
    with read_transaction(engine) as conn:
        return list(conn.execute(select(scim_changes.c.tenant_id).distinct()).scalars())


def last_change(engine: Engine, tenant_id: str) -> int | None:
    """The ``seq`` of the tenant's latest pending SCIM change, if any."""
    with read_transaction(engine) as conn:
        last = conn.execute(
            select(func.max(scim_changes.c.seq)).where(scim_changes.c.tenant_id == tenant_id)
        ).scalar()
    return None if last is None else int(last)


def _read_batch(engine: Engine, tenant_id: str, max_rows: int, up_to: int | None) -> _Batch | None:
    wanted = scim_changes.c.tenant_id == tenant_id
    if up_to is not None:
        wanted = and_(wanted, scim_changes.c.seq <= up_to)
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(
                scim_changes.c.seq,
                scim_changes.c.kind,
                scim_changes.c.resource_id,
                scim_changes.c.member_id,
            )
            .where(wanted)
            .order_by(scim_changes.c.seq)
            .limit(max_rows)
        ).all()
    if not rows:
        return None
    batch = _Batch(max_seq=rows[-1][0])
    for _seq, kind, resource_id, member_id in rows:
        if kind == "user":
            batch.users.add(resource_id)
        elif kind == "group":
            batch.groups.add(resource_id)
        elif member_id is not None:
            batch.members[(resource_id, member_id)] = kind == "member+"
    return batch


# The users named in ``:ids`` (one bound value) and the ``emails`` of each,
# taken out of the stored JSON by the database. On SQLite the id index is named:
# without statistics SQLite would rather read all of the tenant's users through
# the tenant index and test each against the list.
_USERS_SQL = {
    "sqlite": text(
        "SELECT id, user_name, display_name, active, external_id,"
        " json_extract(resource, '$.emails')"
        " FROM scim_users INDEXED BY ux_scim_users_id"
        " WHERE id IN (SELECT value FROM json_each(:ids)) AND tenant_id = :t"
    ),
    "postgresql": text(
        "SELECT id, user_name, display_name, active, external_id,"
        " CAST(resource AS jsonb) -> 'emails'"
        " FROM scim_users"
        " WHERE id IN (SELECT unnest(CAST(:ids AS text[]))) AND tenant_id = :t"
    ),
}


def _users(
    engine: Engine, tenant_id: str, ids: Iterable[str]
) -> tuple[list[SourceUser], list[str]]:
    wanted = sorted(ids)
    if not wanted:
        return [], []
    sqlite = engine.dialect.name == "sqlite"
    with read_transaction(engine) as conn:
        rows = conn.execute(
            _USERS_SQL[engine.dialect.name],
            {"t": tenant_id, "ids": json.dumps(wanted) if sqlite else wanted},
        ).all()
    found = [
        source_user(
            rid,
            name,
            display,
            bool(active),
            ext,
            json.loads(emails) if isinstance(emails, str) else emails,
        )
        for rid, name, display, active, ext, emails in rows
    ]
    present = {user.external_id for user in found}
    return found, [user_id for user_id in wanted if user_id not in present]


# The groups named in ``:ids``, found by the id index for the same reason.
_GROUPS_SQL = {
    "sqlite": text(
        "SELECT id, display_name FROM scim_groups INDEXED BY ux_scim_groups_id"
        " WHERE id IN (SELECT value FROM json_each(:ids)) AND tenant_id = :t"
    ),
    "postgresql": text(
        "SELECT id, display_name FROM scim_groups"
        " WHERE id IN (SELECT unnest(CAST(:ids AS text[]))) AND tenant_id = :t"
    ),
}


def _groups(
    engine: Engine, tenant_id: str, ids: Iterable[str]
) -> tuple[list[SourceGroup], list[str]]:
    wanted = sorted(ids)
    if not wanted:
        return [], []
    sqlite = engine.dialect.name == "sqlite"
    with read_transaction(engine) as conn:
        rows = conn.execute(
            _GROUPS_SQL[engine.dialect.name],
            {"t": tenant_id, "ids": json.dumps(wanted) if sqlite else wanted},
        ).all()
    found = [SourceGroup(external_id=gid, display_name=name) for gid, name in rows]
    present = {group.external_id for group in found}
    return found, [group_id for group_id in wanted if group_id not in present]


class IdentityApplier:
    """Drains SCIM changes in a background thread, a short ``delay`` after the
    first notice so that a burst of requests is applied together.

    A round applies the changes logged when it begins, in applies of at most
    ``batch_rows`` log rows. Applies are background work: each waits for a
    moment when ``quiet()`` says no request is being served, for at most
    ``max_defer`` seconds in a round, and after each the requests get the GIL
    and the write lock for at least as long as it took. A change is therefore
    applied at most ``delay`` + ``max_defer`` + one round after its request
    (a round takes 0.1-0.2 s per 1,000 changes on a quiet machine, its pauses
    included); one that fails is tried again a second later at the earliest,
    without waiting for another request.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        delay: float = 0.05,
        batch_rows: int = BATCH_ROWS,
        quiet: Callable[[], bool] | None = None,
        max_defer: float = 5.0,
    ) -> None:
        self._engine = engine
        self._delay = delay
        self._batch_rows = batch_rows
        self._quiet = quiet
        self._max_defer = max_defer
        self._holder = f"{uuid.uuid4().hex[:16]}"
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._busy = False
        self._stopping = False
        self._hurry = False
        self._flushing = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread and pick up changes a previous process left behind."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._loop, name="scim-identity-applier", daemon=True
            )
            self._thread.start()
        try:
            leftovers = pending_tenants(self._engine)
        except Exception:
            logger.exception("could not read pending SCIM changes")
            return
        for tenant_id in leftovers:
            self.notify(tenant_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Apply what is pending, then stop the thread."""
        with self._cond:
            thread = self._thread
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None

    def notify(self, tenant_id: str) -> None:
        """A request committed changes for ``tenant_id``."""
        with self._cond:
            # A tenant already pending is applied at the end of the current
            # gathering; waking the thread on every request would cost more
            # than the request's own write.
            if tenant_id not in self._pending:
                self._pending.add(tenant_id)
                self._cond.notify_all()
        if self._thread is None:
            self.start()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every change notified so far is applied (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry = True
            self._flushing += 1
            try:
                while self._pending or self._busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("SCIM changes were not applied in time")
                    self._hurry = True
                    self._cond.notify_all()
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending and self._stopping:
                    return
                # Gather a burst: wait out the delay unless asked to hurry.
                deadline = time.monotonic() + self._delay
                while not self._hurry and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                self._hurry = False
                tenants = sorted(self._pending)
                self._pending.clear()
                self._busy = True
            again = [tenant_id for tenant_id in tenants if not self._drain(tenant_id)]
            _checkpoint(self._engine)
            with self._cond:
                # Left for the next process when stopping (it applies the log at start).
                retry = bool(again) and not self._stopping
                if retry:
                    self._pending.update(again)
                self._busy = False
                self._cond.notify_all()
            if retry:
                time.sleep(_RETRY_SECONDS)

    def _drain(self, tenant_id: str) -> bool:
        """Apply the tenant's changes logged so far; ``False`` when some are
        left for a later round (an apply failed, another process holds the lease)."""
        try:
            last = last_change(self._engine, tenant_id)
            if last is None:
                return True
            defer_until = time.monotonic() + self._max_defer
            while True:
                self._wait_for_quiet(defer_until)
                began = time.monotonic()
                applied = drain_tenant(
                    self._engine,
                    tenant_id,
                    holder=self._holder,
                    max_rows=self._batch_rows,
                    up_to=last,
                )
                if not _has_pending(self._engine, tenant_id, up_to=last):
                    return True
                if applied is None:
                    return False
                # The requests on the event loop get the GIL and the write lock
                # for at least as long as this apply held them.
                time.sleep(time.monotonic() - began)
        except Exception:
            # The log keeps the changes: the tenant is tried again in a later round.
            logger.exception("applying SCIM changes of tenant %s failed", tenant_id)
            return False

    def _wait_for_quiet(self, until: float) -> None:
        """Wait until no request is being served (or ``until``, or a flush or stop)."""
        if self._quiet is None:
            return
        with self._cond:
            while not self._quiet() and not self._flushing and not self._stopping:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, _QUIET_POLL_SECONDS))


def _has_pending(engine: Engine, tenant_id: str, *, up_to: int) -> bool:
    with read_transaction(engine) as conn:
        return (
            conn.execute(
                select(scim_changes.c.seq)
                .where(scim_changes.c.tenant_id == tenant_id, scim_changes.c.seq <= up_to)
                .limit(1)
            ).first()
            is not None
        )


def _checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database here, in the background,
    so that requests seldom find it past its auto-checkpoint size: the request
    whose commit crosses that size runs the checkpoint (fsyncs included) before
    it can answer, up to a hundred milliseconds or more. PASSIVE takes no write
    lock and waits for no one; what it cannot copy yet is left for the next.
    More frequent checkpoints also sync the log sooner (``synchronous=NORMAL``)."""
    if engine.dialect.name != "sqlite":
        return
    try:
        driver = engine.raw_connection()
        try:
            cursor = driver.cursor()
            try:
                # Outside any transaction (the store's connections autocommit
                # until they BEGIN): SQLite refuses a checkpoint inside one.
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
            finally:
                cursor.close()
        finally:
            driver.close()
    except Exception:
        # A checkpoint left undone is done by the next one or by a commit.
        logger.exception("SQLite checkpoint failed")
