"""Exactly one process syncs a tenant at a time: a lease row, renewed while the run lasts.

The lease expires unless renewed, so a crashed process's tenant is taken over
by another within ``lease_seconds`` (plus one scheduler tick). The same code
serves SQLite (one process) and PostgreSQL (many).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from gateway.errors import ConflictError
from gateway.store import graph_sync as store
from gateway.store import leases
from gateway.store.leases import LeaseKind

_CHECK_EVERY_SECONDS = 2.0


def process_holder() -> str:
    """A name for this process in lease rows: host, pid and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_holder(process: str) -> str:
    """A name for one run: two runs of one process must not share a lease either."""
    return f"{process}:{uuid.uuid4().hex[:8]}"


class Lease:
    """A held lease; ``live`` turns false when it was lost or the integration stopped."""

    def __init__(
        self, engine: Engine, tenant_id: str, holder: str, seconds: float, *, scheduled: bool
    ) -> None:
        self.engine = engine
        self.scheduled = scheduled
        self.tenant_id = tenant_id
        self.holder = holder
        self.seconds = seconds
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._stopped_sync = threading.Event()
        self._checked_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"sync-lease-{tenant_id[:8]}", daemon=True
        )

    def live(self) -> bool:
        """Whether the run may go on; checks the integration at most every few seconds,
        so disabling it stops a running job at once."""
        if self._lost.is_set() or self._stopped_sync.is_set():
            return False
        now = time.monotonic()
        if now - self._checked_at >= _CHECK_EVERY_SECONDS:
            self._checked_at = now
            if not store.sync_allowed(self.engine, self.tenant_id, scheduled=self.scheduled):
                self._stopped_sync.set()
                return False
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not leases.acquire(
                    self.engine, LeaseKind.GRAPH_SYNC, self.tenant_id, self.holder, self.seconds
                ):
                    self._lost.set()
                    return
                if not store.sync_allowed(self.engine, self.tenant_id, scheduled=self.scheduled):
                    self._stopped_sync.set()
            except Exception:  # noqa: S112 - a database blip; the next beat retries
                continue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@contextmanager
def hold_lease(
    engine: Engine, tenant_id: str, holder: str, seconds: float, *, scheduled: bool = False
) -> Iterator[Lease]:
    """Hold the tenant's sync lease for the block, or raise :class:`ConflictError`."""
    if not leases.acquire(engine, LeaseKind.GRAPH_SYNC, tenant_id, holder, seconds):
        raise ConflictError(
            "A sync of this tenant is already running; wait for it to finish "
            "(GET …/entra/sync-runs shows it)."
        )
    # Whoever held it before us is gone (or we would not have it): its run ended.
    store.abandon_stale_runs(engine, tenant_id)
    lease = Lease(engine, tenant_id, holder, seconds, scheduled=scheduled)
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()
        leases.release(engine, LeaseKind.GRAPH_SYNC, tenant_id, holder)
